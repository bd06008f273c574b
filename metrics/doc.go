// Package metrics describes a catalog as Prometheus metrics: its
// generation, files, view entries, the storage state Aptos reports, the
// restorable frontier, the last operation of each kind, and (when known)
// the last verify and the run of the command that wrote them.
//
// # Vocabulary
//
// [Facts] are what one read-only transaction says about a catalog ([Read]).
// [Run] is one metactl command's own run (its kind, start, duration, exit
// code). [NewCollector] turns a function that reads Facts into a
// prometheus.Collector (serve calls it on every scrape, so each scrape
// sees one committed generation); [WriteTextfile] writes Facts and a Run
// to a node-exporter textfile atomically (a temporary file renamed into
// place, as prometheus.WriteToTextfile does), for CronJobs.
//
// # Metric names
//
//	metactl_catalog_generation                     the catalog generation
//	metactl_files{state="live"|"moved"}            files by state
//	metactl_quarantined_files                      files import --quarantine set aside
//	metactl_view_entries                           entries in the view
//	metactl_storage_latest_epoch_ending_epoch      Aptos's BackupStorageState,
//	metactl_storage_latest_state_snapshot_epoch    one gauge per field; a
//	metactl_storage_latest_state_snapshot_version  field that is "none" is
//	metactl_storage_latest_transaction_version     not exported
//	metactl_restorable                             1 if a restore can start
//	metactl_restorable_frontier_version            see Frontier
//	metactl_last_operation_timestamp_seconds{kind} the journal's newest
//	                                               operation of each kind
//	metactl_verify_problems                        problems the last verify found
//	metactl_verify_timestamp_seconds               when that verify ran
//	metactl_run_timestamp_seconds{command}         this run's start (textfile)
//	metactl_run_duration_seconds{command}          this run's duration
//	metactl_run_exit_code{command}                 this run's exit code
//
// The journal records when an operation committed, not how long it took,
// so durations come from the run that wrote a textfile: each CronJob's
// textfile carries its own command's duration.
package metrics
