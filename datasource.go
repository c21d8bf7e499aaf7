package labspace

import "strings"

// DataSource is a building block: data mounted into a workspace.
type DataSource struct {
	Meta `json:"meta"`
	Spec DataSourceSpec `json:"spec"`
}

func (*DataSource) Kind() Kind { return KindDataSource }

// DataSourceType is the kind of storage behind a data source.
type DataSourceType string

const (
	DataPVC       DataSourceType = "pvc"
	DataNFS       DataSourceType = "nfs"
	DataHostPath  DataSourceType = "host-path"
	DataGit       DataSourceType = "git"
	DataS3        DataSourceType = "s3"
	DataConfigMap DataSourceType = "config-map"
	DataSecret    DataSourceType = "secret"
)

// DataSourceSpec: the type, where it mounts, and exactly one per-type block.
type DataSourceSpec struct {
	// Where the data comes from; the field of that name gives the details.
	Type DataSourceType `json:"type" example:"pvc"`
	// Where the data appears in the workspace.
	MountPath string `json:"mountPath" example:"/data"`
	// Mounts the data read-only.
	ReadOnly bool `json:"readOnly,omitempty"`
	// For type pvc: a persistent volume claim.
	PVC *PVCSource `json:"pvc,omitempty"`
	// For type nfs: an NFS export.
	NFS *NFSSource `json:"nfs,omitempty"`
	// For type host-path: a folder of the node.
	HostPath *HostPathSource `json:"hostPath,omitempty"`
	// For type git: a repository cloned at start.
	Git *GitSource `json:"git,omitempty"`
	// For type s3: a bucket.
	S3 *S3Source `json:"s3,omitempty"`
	// For type config-map: a Kubernetes config map.
	ConfigMap *ConfigMapSource `json:"configMap,omitempty"`
	// For type secret: a credential's keys as files.
	Secret *SecretSource `json:"secret,omitempty"`
}

// PVCSource is an existing claim, or a new one made for each workspace.
type PVCSource struct {
	ClaimName string `json:"claimName,omitempty"` // existing claim
	// A claim to create for the workspace.
	New *NewPVC `json:"new,omitempty"`
}

// NewPVC describes a claim labspace creates and keeps across stop/start.
type NewPVC struct {
	// The claim's size, e.g. "100Gi".
	Size string `json:"size" example:"100Gi"`
	// The storage class (empty: the cluster's default).
	StorageClass string `json:"storageClass,omitempty"`
	// The claim's access modes, e.g. ReadWriteOnce.
	AccessModes []string `json:"accessModes,omitempty"`
}

// NFSSource mounts an NFS export.
type NFSSource struct {
	// The NFS server's address.
	Server string `json:"server"`
	// The exported path.
	Path string `json:"path"`
}

// HostPathSource mounts a path of the node (or host, on the local runtime).
type HostPathSource struct {
	// The folder on the node.
	Path string `json:"path"`
}

// GitSource clones a repository into the mount path.
type GitSource struct {
	// The repository's URL.
	Repository string `json:"repository" example:"https://git.example.org/team/repo.git"`
	// The branch to check out (default: the repository's).
	Branch string `json:"branch,omitempty"`
	// A commit to check out, instead of a branch's head.
	Revision   string `json:"revision,omitempty"`
	Credential string `json:"credential,omitempty"` // a username-password credential
}

// S3Source mounts a bucket.
type S3Source struct {
	// The bucket's name.
	Bucket string `json:"bucket"`
	// The service's endpoint URL.
	URL        string `json:"url,omitempty"`
	Credential string `json:"credential,omitempty"` // an access-key credential
}

// ConfigMapSource mounts a ConfigMap of the project's namespace.
type ConfigMapSource struct {
	// The config map's name in the project's namespace.
	Name string `json:"name"`
}

// SecretSource mounts a credential's keys as files.
type SecretSource struct {
	// The credential, by name.
	Credential string `json:"credential"`
}

var accessModes = map[string]bool{"ReadWriteOnce": true, "ReadOnlyMany": true, "ReadWriteMany": true, "ReadWriteOncePod": true}

// Validate checks the data source.
func (d *DataSource) Validate(v *Invalid) {
	ValidateMeta(&d.Meta, v)
	d.Spec.Validate("spec", v)
}

// Validate checks the type and that exactly its block is set.
func (s *DataSourceSpec) Validate(p string, v *Invalid) {
	validateAbsPath(p+".mountPath", s.MountPath, v)
	set := map[DataSourceType]bool{DataPVC: s.PVC != nil, DataNFS: s.NFS != nil, DataHostPath: s.HostPath != nil,
		DataGit: s.Git != nil, DataS3: s.S3 != nil, DataConfigMap: s.ConfigMap != nil, DataSecret: s.Secret != nil}
	if _, ok := set[s.Type]; !ok {
		v.Add(p+".type", "must be one of pvc, nfs, host-path, git, s3, config-map, secret")
		return
	}
	for t, isSet := range set {
		if isSet && t != s.Type {
			v.Add(p+"."+blockName(t), "must be empty for a %s data source", s.Type)
		}
	}
	if !set[s.Type] {
		v.Add(p+"."+blockName(s.Type), "is required for a %s data source", s.Type)
		return
	}
	switch s.Type {
	case DataPVC:
		s.PVC.validate(p+".pvc", v)
	case DataNFS:
		if s.NFS.Server == "" || len(s.NFS.Server) > 253 || strings.ContainsAny(s.NFS.Server, " /") {
			v.Add(p+".nfs.server", "must be a host name or address")
		}
		validateAbsPath(p+".nfs.path", s.NFS.Path, v)
	case DataHostPath:
		validateAbsPath(p+".hostPath.path", s.HostPath.Path, v)
	case DataGit:
		r := s.Git.Repository
		if r == "" || len(r) > 2048 || strings.ContainsAny(r, " \n") {
			v.Add(p+".git.repository", "must be a repository URL")
		}
		if len(s.Git.Branch) > 255 || len(s.Git.Revision) > 255 {
			v.Add(p+".git", "branch and revision must be at most 255 characters")
		}
		if s.Git.Credential != "" {
			ValidateName(p+".git.credential", s.Git.Credential, v)
		}
	case DataS3:
		if b := s.S3.Bucket; len(b) < 3 || len(b) > 63 || !dnsLabel.MatchString(strings.ReplaceAll(b, ".", "-")) {
			v.Add(p+".s3.bucket", "must be a bucket name (3 to 63 lowercase letters, digits, '.', '-')")
		}
		if len(s.S3.URL) > 2048 {
			v.Add(p+".s3.url", "must be at most 2048 characters")
		}
		if s.S3.Credential != "" {
			ValidateName(p+".s3.credential", s.S3.Credential, v)
		}
	case DataConfigMap:
		ValidateName(p+".configMap.name", s.ConfigMap.Name, v)
	case DataSecret:
		ValidateName(p+".secret.credential", s.Secret.Credential, v)
	}
}

func (c *PVCSource) validate(p string, v *Invalid) {
	switch {
	case c.ClaimName != "" && c.New != nil:
		v.Add(p, "set claimName (an existing claim) or new, not both")
	case c.ClaimName == "" && c.New == nil:
		v.Add(p, "set claimName (an existing claim) or new")
	case c.ClaimName != "":
		ValidateName(p+".claimName", c.ClaimName, v)
	default:
		if n, ok := MemoryBytes(c.New.Size); !ok || n <= 0 {
			v.Add(p+".new.size", "must be a positive size such as \"10Gi\" (got %q)", c.New.Size)
		}
		if c.New.StorageClass != "" {
			ValidateName(p+".new.storageClass", c.New.StorageClass, v)
		}
		for i, m := range c.New.AccessModes {
			if !accessModes[m] {
				v.Add(fieldIndex(p+".new.accessModes", i), "must be one of ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod")
			}
		}
	}
}

func blockName(t DataSourceType) string {
	switch t {
	case DataHostPath:
		return "hostPath"
	case DataConfigMap:
		return "configMap"
	}
	return string(t)
}

// CredentialRefs names the credentials the data source uses.
func (s *DataSourceSpec) CredentialRefs() []string {
	var out []string
	switch {
	case s.Git != nil && s.Git.Credential != "":
		out = append(out, s.Git.Credential)
	case s.S3 != nil && s.S3.Credential != "":
		out = append(out, s.S3.Credential)
	case s.Secret != nil:
		out = append(out, s.Secret.Credential)
	}
	return out
}
