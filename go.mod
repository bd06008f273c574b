module github.com/metactl/metactl

go 1.26

require (
	github.com/alecthomas/kong v1.17.0
	github.com/klauspost/compress v1.20.4
	go.etcd.io/bbolt v1.5.0
	golang.org/x/sys v0.45.0
)

require golang.org/x/sync v0.20.0

require go.yaml.in/yaml/v3 v3.0.6
