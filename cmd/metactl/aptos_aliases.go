//go:build unix

package main

// Aptos's own subcommand paths, accepted as hidden aliases so that Aptos's
// helm chart runs metactl by swapping the image and the binary path alone:
//
//	aptos-db-tool backup-maintenance compact <flags>      -> metactl compact <flags>
//	aptos-db-tool backup query backup-storage-state <flags> -> metactl status <flags>
//
// They are hidden from the main help (they are not metactl's vocabulary)
// and run the very same command structs, so every flag means the same.

// backupMaintenanceCmd is 'backup-maintenance': Aptos's maintenance group.
type backupMaintenanceCmd struct {
	Compact compactCmd `cmd:"" help:"Alias of 'metactl compact' (Aptos's 'backup-maintenance compact')."`
}

// backupCmd is 'backup': Aptos's backup group; only its query of the
// storage state is metactl's to answer.
type backupCmd struct {
	Query backupQueryCmd `cmd:"" help:"Aptos's backup queries."`
}

type backupQueryCmd struct {
	BackupStorageState statusCmd `cmd:"" name:"backup-storage-state" help:"Alias of 'metactl status' (Aptos's 'backup query backup-storage-state')."`
}

// aliasCommand maps an Aptos alias path to the metactl command it runs,
// for the run's metrics label; other paths give their first word.
func aliasCommand(path string) string {
	switch path {
	case "backup-maintenance compact":
		return "compact"
	case "backup query backup-storage-state":
		return "status"
	}
	return ""
}
