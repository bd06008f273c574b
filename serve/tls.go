package serve

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v2"

	"github.com/metactl/metactl/api"
)

// CheckWebConfig validates a web config file in the Prometheus
// exporter-toolkit format (tls_server_config, basic_auth_users with bcrypt
// hashes) with that library, and refuses one without TLS: once a web
// config is given, serve answers HTTPS only, so credentials never cross
// the network in clear.
func CheckWebConfig(path string) error {
	if err := web.Validate(path); err != nil {
		return api.UsageError{Err: fmt.Errorf("--web-config-file %s: %w", path, err)}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var c web.Config
	if err := yaml.Unmarshal(b, &c); err != nil {
		return api.UsageError{Err: fmt.Errorf("--web-config-file %s: %w", path, err)}
	}
	if !c.TLSConfig.IsEnabled() {
		return api.UsageError{Err: fmt.Errorf("--web-config-file %s has no tls_server_config: with a web config serve answers HTTPS only (basic auth over plain HTTP would send the passwords in clear)", path)}
	}
	return nil
}

// ServeWeb serves srv on ln: with webConfig "" plain HTTP, else HTTPS and
// basic auth as the exporter-toolkit file says (checked with
// CheckWebConfig first). Basic auth then covers every path of srv's
// handler; probes use HealthHandler on a listener of their own.
func ServeWeb(ln net.Listener, srv *http.Server, webConfig string, logger *slog.Logger) error {
	if webConfig == "" {
		return srv.Serve(ln)
	}
	if err := CheckWebConfig(webConfig); err != nil {
		return err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	addr := ln.Addr().String()
	systemd := false
	return web.Serve(ln, srv, &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: &systemd, WebConfigFile: &webConfig}, logger)
}
