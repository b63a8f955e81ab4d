package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
)

// MemoryUsage is one container's memory as `docker stats` reports it (usage minus page cache).
type MemoryUsage struct {
	Container string `json:"container"`
	Service   string `json:"service"`
	Bytes     uint64 `json:"bytes"`
	// Anon is the anonymous share (heap, stacks: what the process itself allocated), as opposed to file
	// pages such as the mapped service binary; 0 when the engine does not say.
	Anon uint64 `json:"anon_bytes"`
}

// StackMemory reads every container of sandbox name once through the stats API.
func (e *Engine) StackMemory(ctx context.Context, name string) ([]MemoryUsage, error) {
	insts, err := e.Instances(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []MemoryUsage
	for _, in := range insts {
		if in.State != "running" {
			continue
		}
		r, err := e.ContainerStatsOneShot(ctx, in.ID)
		if err != nil {
			return nil, fmt.Errorf("stats %s: %w", in.Name, err)
		}
		var st container.StatsResponse
		err = json.NewDecoder(r.Body).Decode(&st)
		r.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("decode stats %s: %w", in.Name, err)
		}
		out = append(out, MemoryUsage{Container: in.Name, Service: in.Service, Bytes: dockerStatsMemory(st.MemoryStats), Anon: anonMemory(st.MemoryStats)})
	}
	return out, nil
}

// dockerStatsMemory mirrors the docker CLI: usage minus inactive file cache (cgroup v2) or cache (v1).
func dockerStatsMemory(m container.MemoryStats) uint64 {
	if v, ok := m.Stats["inactive_file"]; ok && v < m.Usage {
		return m.Usage - v
	}
	if v, ok := m.Stats["total_inactive_file"]; ok && v < m.Usage {
		return m.Usage - v
	}
	if v, ok := m.Stats["cache"]; ok && v < m.Usage {
		return m.Usage - v
	}
	return m.Usage
}

// anonMemory is the anonymous memory of a container: "anon" on cgroup v2, "total_rss" (or "rss") on v1.
func anonMemory(m container.MemoryStats) uint64 {
	for _, k := range []string{"anon", "total_rss", "rss"} {
		if v, ok := m.Stats[k]; ok {
			return v
		}
	}
	return 0
}

// ImageSize is one image's size on the engine.
type ImageSize struct {
	Ref   string `json:"ref"`
	Bytes int64  `json:"bytes"`
}

// SandboxImages lists the images a sandbox uses (base, its role images, Postgres) with sizes.
func (e *Engine) SandboxImages(ctx context.Context, name, pgRef string) ([]ImageSize, error) {
	var out []ImageSize
	imgs, err := e.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelImage+"=true"))})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	for _, im := range imgs {
		n := im.Labels[LabelName]
		if n != "" && n != name {
			continue
		}
		for _, t := range im.RepoTags {
			if strings.HasPrefix(t, "sandbox-base:") || strings.HasPrefix(t, name+"/") || t == pgRef {
				out = append(out, ImageSize{Ref: t, Bytes: im.Size})
			}
		}
	}
	if pgRef != "" && !containsRef(out, pgRef) {
		if ins, err := e.ImageInspect(ctx, pgRef); err == nil {
			out = append(out, ImageSize{Ref: pgRef, Bytes: ins.Size})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

func containsRef(l []ImageSize, ref string) bool {
	for _, i := range l {
		if i.Ref == ref {
			return true
		}
	}
	return false
}

// RemoveSandboxImages deletes a sandbox's role images and the base image (not Postgres), for a cold start.
func (e *Engine) RemoveSandboxImages(ctx context.Context, name string) error {
	imgs, err := e.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelImage+"=true"))})
	if err != nil {
		return fmt.Errorf("list images: %w", err)
	}
	for _, im := range imgs {
		if im.Labels[LabelService] == "postgres" {
			continue
		}
		if n := im.Labels[LabelName]; n != "" && n != name {
			continue
		}
		for _, t := range im.RepoTags {
			if _, err := e.ImageRemove(ctx, t, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
				return fmt.Errorf("remove image %s: %w", t, err)
			}
		}
	}
	return nil
}

// RemoveSandboxImagesOf deletes only the role images tagged for sandbox name (keeps base and Postgres).
func (e *Engine) RemoveSandboxImagesOf(ctx context.Context, name string) error {
	imgs, err := e.ImageList(ctx, image.ListOptions{Filters: NameFilter(name)})
	if err != nil {
		return fmt.Errorf("list images: %w", err)
	}
	for _, im := range imgs {
		for _, t := range im.RepoTags {
			if _, err := e.ImageRemove(ctx, t, image.RemoveOptions{Force: true}); err != nil {
				return fmt.Errorf("remove image %s: %w", t, err)
			}
		}
	}
	return nil
}
