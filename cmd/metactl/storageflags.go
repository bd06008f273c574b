package main

import (
	"fmt"
	"path/filepath"

	"github.com/metactl/metactl/storage"
)

// storageFlags are Aptos's storage options, with Aptos's names, so an
// operator's scripts carry over. At most one may be given.
type storageFlags struct {
	LocalFsDir           string `name:"local-fs-dir" help:"A LocalFs backup storage folder (holding metadata/ and metadata_backup/)." type:"path" placeholder:"DIR"`
	CommandAdapterConfig string `name:"command-adapter-config" help:"An Aptos command-adapter YAML config (the bash commands that reach a bucket)." type:"existingfile" placeholder:"FILE"`
}

func (s *storageFlags) given() bool { return s.LocalFsDir != "" || s.CommandAdapterConfig != "" }

func (s *storageFlags) validate() error {
	if s.LocalFsDir != "" && s.CommandAdapterConfig != "" {
		return usagef("give one of --local-fs-dir and --command-adapter-config, not both")
	}
	return nil
}

// describe returns the provenance label recorded with imported files.
func (s *storageFlags) describe() string {
	if s.LocalFsDir != "" {
		abs, err := filepath.Abs(s.LocalFsDir)
		if err != nil {
			abs = s.LocalFsDir
		}
		return "local-fs:" + abs
	}
	abs, err := filepath.Abs(s.CommandAdapterConfig)
	if err != nil {
		abs = s.CommandAdapterConfig
	}
	return "command-adapter:" + abs
}

// source opens the named storage for reading.
func (s *storageFlags) source() (storage.Source, error) {
	switch {
	case s.LocalFsDir != "":
		return storage.NewLocal(s.LocalFsDir)
	case s.CommandAdapterConfig != "":
		return storage.LoadCommandAdapter(s.CommandAdapterConfig)
	}
	return nil, fmt.Errorf("no storage given")
}
