package shipcheck

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNginxDemoConfig runs `nginx -t` on deploy/nginx/demo.conf inside the
// http block the nginx image gives it (conf.d/*.conf).
func TestNginxDemoConfig(t *testing.T) {
	t.Parallel()
	nginx := requireTool(t, "nginx", "nginx")
	root := repoRoot(t)
	dir := t.TempDir()
	for _, sub := range []string{"logs", "tmp"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, sub), 0o755))
	}
	main := fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log;
events {}
http {
    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    include %[2]s;
}
`, dir, filepath.Join(root, "deploy", "nginx", "demo.conf"))
	conf := filepath.Join(dir, "nginx.conf")
	require.NoError(t, os.WriteFile(conf, []byte(main), 0o644))
	out, err := exec.Command(nginx, "-t", "-q", "-p", dir, "-e", filepath.Join(dir, "logs", "error.log"), "-c", conf).CombinedOutput()
	require.NoError(t, err, "nginx -t: %s", strings.TrimSpace(string(out)))
}
