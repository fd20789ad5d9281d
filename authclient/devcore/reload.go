package devcore

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/outpost-go/outposts/authclient/devcore/blueprint"
	"github.com/outpost-go/outposts/authclient/devcore/model"
)

func (s *Server) blueprintOptions() blueprint.Options {
	getenv := s.cfg.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	return blueprint.Options{Getenv: getenv, Now: s.cfg.Now}
}

// loadDirectory loads the embedded defaults plus either the user's
// blueprints or, when no directory is configured, the embedded demo.
func (s *Server) loadDirectory() (*model.Directory, error) {
	var names []string
	for _, f := range blueprint.Defaults() {
		names = append(names, "embedded:"+f.Name)
	}
	if s.cfg.BlueprintsDir == "" {
		names = append(names, "embedded:"+blueprint.Demo().Name)
		// LoadFiles adds the embedded default flows itself.
		dir, err := blueprint.LoadFiles(s.blueprintOptions(), blueprint.Demo())
		if err != nil {
			return nil, fmt.Errorf("load demo blueprint: %w", err)
		}
		s.setLoaded(names)
		return dir, nil
	}
	dir, err := blueprint.Load(s.cfg.BlueprintsDir, s.blueprintOptions())
	if err != nil {
		return nil, fmt.Errorf("load blueprints from %s: %w", s.cfg.BlueprintsDir, err)
	}
	files, err := s.scanMtimes()
	if err == nil {
		for path := range files {
			names = append(names, path)
		}
		sort.Strings(names[len(blueprint.Defaults()):])
	}
	s.setLoaded(names)
	return dir, nil
}

func (s *Server) setLoaded(names []string) {
	s.loadedMu.Lock()
	defer s.loadedMu.Unlock()
	s.loaded = names
}

// Blueprints names the blueprint files of the directory being served;
// embedded ones are prefixed "embedded:".
func (s *Server) Blueprints() []string {
	s.loadedMu.Lock()
	defer s.loadedMu.Unlock()
	return slices.Clone(s.loaded)
}

// Reload reloads the blueprints now. On failure the old directory stays in
// service; on success every connected outpost gets TRIGGER_UPDATE.
func (s *Server) Reload(ctx context.Context) error {
	if s.cfg.Directory != nil {
		return nil
	}
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	mtimes, err := s.scanMtimes()
	if err != nil {
		return err
	}
	return s.reloadLocked(ctx, mtimes)
}

func (s *Server) reloadLocked(_ context.Context, mtimes map[string]time.Time) error {
	// Record the mtimes even on failure so a broken file is reported once,
	// not on every poll.
	s.mtimes = mtimes
	dir, err := s.loadDirectory()
	if err != nil {
		return err
	}
	v, err := s.buildView(dir)
	if err != nil {
		return err
	}
	s.view.Store(v)
	s.TriggerUpdate()
	return nil
}

// scanMtimes lists every yaml file under BlueprintsDir with its mtime and
// size folded into one timestamp-like key.
func (s *Server) scanMtimes() (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if s.cfg.BlueprintsDir == "" {
		return out, nil
	}
	err := filepath.WalkDir(s.cfg.BlueprintsDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		ext := strings.ToLower(filepath.Ext(path))
		if ext != ".yaml" && ext != ".yml" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		// Size is folded in because two quick writes can share an mtime on
		// coarse-grained file systems.
		out[path] = info.ModTime().Add(time.Duration(info.Size()))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan blueprints in %s: %w", s.cfg.BlueprintsDir, err)
	}
	return out, nil
}

func sameMtimes(a, b map[string]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !w.Equal(v) {
			return false
		}
	}
	return true
}

func (s *Server) watch(ctx context.Context) {
	t := time.NewTicker(s.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.pollOnce(ctx)
	}
}

func (s *Server) pollOnce(ctx context.Context) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	mtimes, err := s.scanMtimes()
	if err != nil {
		s.log.Warn().Err(err).Msg("blueprint scan failed")
		return
	}
	if sameMtimes(mtimes, s.mtimes) {
		return
	}
	if err := s.reloadLocked(ctx, mtimes); err != nil {
		// blueprint.Error carries file:line in its message.
		s.log.Error().Err(err).Msg("blueprint reload failed, keeping the previous directory")
		return
	}
	s.log.Info().Int("files", len(mtimes)).Msg("blueprints reloaded")
}
