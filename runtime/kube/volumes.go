package kube

import (
	"strconv"

	"github.com/labspace/labspace"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// volume adds data source i: a volume, its mount, and what it needs (a
// new claim, a Secret, an init container that fetches the data).
func (b *podBuilder) volume(i int, d *labspace.ResolvedDataSource) {
	name := "ds-" + strconv.Itoa(i)
	s := &d.Spec
	var src corev1.VolumeSource
	switch s.Type {
	case labspace.DataPVC:
		claim := s.PVC.ClaimName
		if s.PVC.New != nil {
			claim = b.claim(d)
		}
		src.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: s.ReadOnly}
	case labspace.DataNFS:
		src.NFS = &corev1.NFSVolumeSource{Server: s.NFS.Server, Path: s.NFS.Path, ReadOnly: s.ReadOnly}
	case labspace.DataHostPath:
		src.HostPath = &corev1.HostPathVolumeSource{Path: s.HostPath.Path}
	case labspace.DataConfigMap:
		src.ConfigMap = &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: s.ConfigMap.Name}}
	case labspace.DataSecret:
		c := b.in.ByName[s.Secret.Credential]
		sec := &corev1.Secret{ObjectMeta: meta(b.w, b.in.Namespace, b.base+"-"+d.From.Name), Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{}}
		for k, v := range c.Values {
			sec.Data[k] = []byte(v)
		}
		b.wl.secrets = append(b.wl.secrets, sec)
		src.Secret = &corev1.SecretVolumeSource{SecretName: sec.Name}
	case labspace.DataGit:
		src.EmptyDir = &corev1.EmptyDirVolumeSource{}
		b.spec.InitContainers = append(b.spec.InitContainers, b.gitClone(name, s))
	case labspace.DataS3:
		src.EmptyDir = &corev1.EmptyDirVolumeSource{}
		b.spec.InitContainers = append(b.spec.InitContainers, b.s3Copy(name, s))
	}
	b.spec.Volumes = append(b.spec.Volumes, corev1.Volume{Name: name, VolumeSource: src})
	b.main.VolumeMounts = append(b.main.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: s.MountPath,
		ReadOnly: s.ReadOnly})
}

// claim is a new PVC for the workspace: it outlives stops (only delete
// removes it), so a start finds the data of the last run.
func (b *podBuilder) claim(d *labspace.ResolvedDataSource) string {
	n := d.Spec.PVC.New
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: meta(b.w, b.in.Namespace, b.base+"-"+d.From.Name)}
	modes := n.AccessModes
	if len(modes) == 0 {
		modes = []string{string(corev1.ReadWriteOnce)}
	}
	for _, m := range modes {
		pvc.Spec.AccessModes = append(pvc.Spec.AccessModes, corev1.PersistentVolumeAccessMode(m))
	}
	if n.StorageClass != "" {
		sc := n.StorageClass
		pvc.Spec.StorageClassName = &sc
	}
	if q, err := resource.ParseQuantity(n.Size); err == nil {
		pvc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: q}
	}
	b.wl.claims = append(b.wl.claims, pvc)
	return pvc.Name
}

// gitClone is an init container cloning the repository into the volume;
// a username-password credential reaches git through a credential helper
// reading the variables, never the command line.
func (b *podBuilder) gitClone(volume string, s *labspace.DataSourceSpec) corev1.Container {
	g := s.Git
	script := `set -eu
[ -d "$DEST/.git" ] && exit 0
git clone ${BRANCH:+--branch "$BRANCH"} -- "$REPO" "$DEST"
[ -z "${REVISION:-}" ] || git -C "$DEST" checkout "$REVISION"`
	env := []corev1.EnvVar{{Name: "REPO", Value: g.Repository}, {Name: "DEST", Value: "/data"},
		{Name: "BRANCH", Value: g.Branch}, {Name: "REVISION", Value: g.Revision}}
	if g.Credential != "" {
		c := b.in.ByName[g.Credential]
		env = append(env, b.secretEnv("GIT_USERNAME", c, "username"), b.secretEnv("GIT_PASSWORD", c, "password"),
			corev1.EnvVar{Name: "GIT_CONFIG_COUNT", Value: "1"}, corev1.EnvVar{Name: "GIT_CONFIG_KEY_0", Value: "credential.helper"},
			corev1.EnvVar{Name: "GIT_CONFIG_VALUE_0", Value: `!f() { echo "username=$GIT_USERNAME"; echo "password=$GIT_PASSWORD"; }; f`})
	}
	return corev1.Container{Name: "git-" + volume, Image: b.opts.GitImage, Command: []string{"sh", "-c", script}, Env: env,
		VolumeMounts: []corev1.VolumeMount{{Name: volume, MountPath: "/data"}}, SecurityContext: helperSecurity()}
}

// s3Copy is an init container copying the bucket into the volume at
// start (docs/architecture.md: S3 is a copy, not a live mount).
func (b *podBuilder) s3Copy(volume string, s *labspace.DataSourceSpec) corev1.Container {
	args := []string{"s3", "sync", "s3://" + s.S3.Bucket, "/data"}
	if s.S3.URL != "" {
		args = append(args, "--endpoint-url", s.S3.URL)
	}
	var env []corev1.EnvVar
	if s.S3.Credential != "" {
		c := b.in.ByName[s.S3.Credential]
		env = append(env, b.secretEnv("AWS_ACCESS_KEY_ID", c, "accessKeyId"), b.secretEnv("AWS_SECRET_ACCESS_KEY", c, "secretAccessKey"))
	} else {
		args = append(args, "--no-sign-request")
	}
	return corev1.Container{Name: "s3-" + volume, Image: b.opts.S3Image, Command: []string{"aws"}, Args: args, Env: env,
		VolumeMounts: []corev1.VolumeMount{{Name: volume, MountPath: "/data"}}, SecurityContext: helperSecurity()}
}
