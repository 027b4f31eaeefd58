package s3

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7/pkg/credentials"
)

// awsVars are every variable Resolve (or minio-go's providers under it)
// reads; each test starts with none of them set.
var awsVars = []string{
	"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN",
	"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
	"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
}

const (
	sharedCredentials = `[default]
aws_access_key_id = FILEDEFAULT
aws_secret_access_key = filedefaultsecret

[ci]
aws_access_key_id = FILECI
aws_secret_access_key = filecisecret
aws_session_token = filecitoken
`
	sharedConfig = `[default]
region = eu-west-3
endpoint_url = http://minio.local:9000

[profile ci]
region = ap-south-1

[profile cfgonly]
aws_access_key_id = CFGONLY
aws_secret_access_key = cfgonlysecret
endpoint_url = https://ceph.example.org
`
)

func TestResolve(t *testing.T) {
	envKeys := map[string]string{"AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "envsecret"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	type want struct {
		endpoint string
		secure   bool
		region   string
		key      string
		token    string
		from     string
	}
	for _, c := range []struct {
		name        string
		credentials string // ~/.aws/credentials ("" = none)
		config      string // ~/.aws/config
		env         map[string]string
		o           Overrides
		want        want
		err         error
	}{
		{"nothing anywhere: AWS, unsigned", "", "", nil, Overrides{},
			want{"s3.amazonaws.com", true, "", "", "", "none (anonymous)"}, nil},
		{"the environment", "", "", with(envKeys, "AWS_SESSION_TOKEN", "envtoken", "AWS_REGION", "us-west-2"), Overrides{},
			want{"s3.amazonaws.com", true, "us-west-2", "ENVKEY", "envtoken", "environment"}, nil},
		{"the environment over the shared files", sharedCredentials, sharedConfig, envKeys, Overrides{},
			want{"minio.local:9000", false, "eu-west-3", "ENVKEY", "", "environment"}, nil},
		{"the default profile", sharedCredentials, sharedConfig, nil, Overrides{},
			want{"minio.local:9000", false, "eu-west-3", "FILEDEFAULT", "", "shared files (profile default)"}, nil},
		{"AWS_PROFILE", sharedCredentials, sharedConfig, map[string]string{"AWS_PROFILE": "ci"}, Overrides{},
			want{"s3.amazonaws.com", true, "ap-south-1", "FILECI", "filecitoken", "shared files (profile ci)"}, nil},
		{"--profile over the environment's keys", sharedCredentials, sharedConfig, with(envKeys, "AWS_PROFILE", "default"), Overrides{Profile: "ci"},
			want{"s3.amazonaws.com", true, "ap-south-1", "FILECI", "filecitoken", "shared files (profile ci)"}, nil},
		{"keys in the config file", "", sharedConfig, map[string]string{"AWS_PROFILE": "cfgonly"}, Overrides{},
			want{"ceph.example.org", true, "", "CFGONLY", "", "shared files (profile cfgonly)"}, nil},
		{"AWS_REGION over AWS_DEFAULT_REGION over the profile", "", sharedConfig,
			with(envKeys, "AWS_REGION", "us-east-2", "AWS_DEFAULT_REGION", "us-west-1"), Overrides{},
			want{"minio.local:9000", false, "us-east-2", "ENVKEY", "", "environment"}, nil},
		{"AWS_DEFAULT_REGION over the profile", "", sharedConfig, with(envKeys, "AWS_DEFAULT_REGION", "us-west-1"), Overrides{},
			want{"minio.local:9000", false, "us-west-1", "ENVKEY", "", "environment"}, nil},
		{"AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL over the profile", "", sharedConfig,
			with(envKeys, "AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9100", "AWS_ENDPOINT_URL", "http://127.0.0.1:9200"), Overrides{},
			want{"127.0.0.1:9100", false, "eu-west-3", "ENVKEY", "", "environment"}, nil},
		{"AWS_ENDPOINT_URL over the profile", "", sharedConfig, with(envKeys, "AWS_ENDPOINT_URL", "https://127.0.0.1:9200"), Overrides{},
			want{"127.0.0.1:9200", true, "eu-west-3", "ENVKEY", "", "environment"}, nil},
		{"configured endpoints ignored", "", sharedConfig,
			with(envKeys, "AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9100", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"), Overrides{},
			want{"s3.amazonaws.com", true, "eu-west-3", "ENVKEY", "", "environment"}, nil},
		{"flags over everything", sharedCredentials, sharedConfig,
			with(envKeys, "AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9100", "AWS_REGION", "us-east-2"),
			Overrides{EndpointURL: "http://[::1]:9000", Region: "local"},
			want{"[::1]:9000", false, "local", "ENVKEY", "", "environment"}, nil},
		{"AWS_SHARED_CREDENTIALS_FILE", "", "", map[string]string{"AWS_SHARED_CREDENTIALS_FILE": "elsewhere"}, Overrides{},
			want{"s3.amazonaws.com", true, "", "FILEDEFAULT", "", "shared files (profile default)"}, nil},
		{"a bare host is https", "", "", with(envKeys, "AWS_ENDPOINT_URL", "minio:9000"), Overrides{},
			want{"minio:9000", true, "", "ENVKEY", "", "environment"}, nil},
		{"an endpoint with a path", "", "", with(envKeys, "AWS_ENDPOINT_URL", "http://minio:9000/bucket"), Overrides{}, want{}, ErrConfig},
		{"an endpoint of another scheme", "", "", with(envKeys, "AWS_ENDPOINT_URL", "ftp://minio"), Overrides{}, want{}, ErrConfig},
		{"--profile without credentials", sharedCredentials, sharedConfig, envKeys, Overrides{Profile: "nobody"}, want{}, ErrConfig},
		{"half a key pair in the environment", "", "", map[string]string{"AWS_ACCESS_KEY_ID": "HALF"}, Overrides{},
			want{"s3.amazonaws.com", true, "", "", "", "none (anonymous)"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			t.Setenv("HOME", home)
			for _, v := range awsVars {
				t.Setenv(v, "")
			}
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true") // never ask 169.254.169.254 from a test
			write := func(name, body string) {
				t.Helper()
				if body == "" {
					return
				}
				p := filepath.Join(home, ".aws", name)
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			write("credentials", c.credentials)
			write("config", c.config)
			for k, v := range c.env {
				if k == "AWS_SHARED_CREDENTIALS_FILE" {
					write(v, sharedCredentials)
					v = filepath.Join(home, ".aws", v)
				}
				t.Setenv(k, v)
			}
			cfg, err := Resolve(context.Background(), c.o)
			if !errors.Is(err, c.err) {
				t.Fatalf("Resolve: %v, want %v", err, c.err)
			}
			if err != nil {
				return
			}
			v, err := cfg.Creds.GetWithContext(&credentials.CredContext{Client: http.DefaultClient})
			if err != nil {
				t.Fatal(err)
			}
			got := want{cfg.Endpoint, cfg.Secure, cfg.Region, v.AccessKeyID, v.SessionToken, cfg.CredsFrom}
			if got != c.want {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
			if _, err := NewClient(cfg); err != nil {
				t.Errorf("NewClient: %v", err)
			}
		})
	}
}
