package adaptersrv

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// RouteName returns the name of the fast path's route file (ROUTE.tcp in
// [Dir]) for the global options of a served call: the words before
// "adapter" on its command line, "--catalog" and the catalog URL first. A
// generated bridge config carries it literally (workflow.AdapterConfig)
// and the client passes it to the server it starts (adapter-server
// --route), both computing it here. It only finds the server: the server
// itself checks that a fast-path request is one its key covers
// ([ServedKey]). Unlike the rest of the package it builds on every
// platform, for the config generator.
func RouteName(global []string) string {
	h := sha256.New()
	h.Write([]byte("metactl-adapter-route/1"))
	for _, p := range global {
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return "r" + hex.EncodeToString(h.Sum(nil)[:12])
}
