package config

import "strings"

// Source is where the configuration comes from: the environment and the
// files its variables name (os.Getenv and os.ReadFile in production). The
// running gateway reads it again to reload credentials and keys, through
// the same Load, so a reload is validated exactly as start-up is.
type Source struct {
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
}

// Load reads and validates the configuration from s; see Load.
func (s Source) Load() (*Config, error) { return Load(s.Getenv, s.ReadFile) }

// File is a file a variable names.
type File struct {
	Var  string // the variable, e.g. TIPGATE_API_KEYS_FILE
	Path string
}

// CredentialFiles returns the files, named by s's variables, that hold TIP
// credentials (the PFX, the CA bundle, the _FILE forms of the username,
// passwords and token) or the API keys: those a running gateway watches,
// because rotating them (as Kubernetes updates a mounted secret) must not
// need a restart. Unset variables are left out; the order is stable.
func (s Source) CredentialFiles() []File {
	vars := []string{
		envTIPPFXFile, envTIPPFXPassword + fileSuffix,
		envTIPUsername + fileSuffix, envTIPPassword + fileSuffix,
		envTIPToken + fileSuffix, envTIPCAFile, envAPIKeysFile,
	}
	var files []File
	for _, v := range vars {
		if p := strings.TrimSpace(s.Getenv(v)); p != "" {
			files = append(files, File{Var: v, Path: p})
		}
	}
	return files
}
