package s3

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"gopkg.in/ini.v1"
)

// ErrConfig is wrapped by errors in resolving how to reach the store.
var ErrConfig = errors.New("s3: bad client config")

// DefaultEndpoint is AWS S3; minio-go picks the regional host from the region.
const DefaultEndpoint = "https://s3.amazonaws.com"

// Overrides are the command-line settings that win over the environment and
// the shared files, as the AWS CLI's --endpoint-url, --region and --profile do.
type Overrides struct {
	EndpointURL string
	Region      string
	Profile     string
}

// ClientConfig is how to reach the store, resolved by Resolve.
type ClientConfig struct {
	Endpoint string // host[:port]
	Secure   bool   // https
	Region   string // "" = asked of the bucket
	Profile  string
	Creds    *credentials.Credentials
	// CredsFrom says where the credentials came from, for logs:
	// "environment", "shared files (profile P)", "instance role" or
	// "none (anonymous)". Never the credentials themselves.
	CredsFrom string
}

// Resolve finds endpoint, region and credentials as AWS tools do, each from
// the first place that has it:
//
//	endpoint     --endpoint-url; AWS_ENDPOINT_URL_S3; AWS_ENDPOINT_URL; the profile's
//	             endpoint_url in the config file; else AWS S3. AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true
//	             skips the variables and the file.
//	region       --region; AWS_REGION; AWS_DEFAULT_REGION; the profile's region; else the
//	             bucket's own location (asked of the store).
//	profile      --profile; AWS_PROFILE; "default".
//	credentials  with --profile: that profile only. Otherwise AWS_ACCESS_KEY_ID and
//	             AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN); the profile in the shared
//	             files (~/.aws/credentials over ~/.aws/config, or AWS_SHARED_CREDENTIALS_FILE
//	             and AWS_CONFIG_FILE; static keys, SSO, credential_process); the container
//	             or instance role (not when AWS_EC2_METADATA_DISABLED=true); else unsigned
//	             requests (public buckets).
//
// ctx bounds the requests some providers make (SSO, instance role).
func Resolve(ctx context.Context, o Overrides) (ClientConfig, error) {
	cfg := ClientConfig{Profile: firstNonEmpty(o.Profile, os.Getenv("AWS_PROFILE"), "default")}
	prof, err := loadConfigProfile(cfg.Profile)
	if err != nil {
		return ClientConfig{}, err
	}
	ignoreConfigured := strings.EqualFold(os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true")
	endpoint := o.EndpointURL
	if endpoint == "" && !ignoreConfigured {
		endpoint = firstNonEmpty(os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL"), prof["endpoint_url"])
	}
	if cfg.Endpoint, cfg.Secure, err = parseEndpoint(firstNonEmpty(endpoint, DefaultEndpoint)); err != nil {
		return ClientConfig{}, err
	}
	cfg.Region = firstNonEmpty(o.Region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), prof["region"])

	type source struct {
		name string
		p    credentials.Provider
	}
	file := source{fmt.Sprintf("shared files (profile %s)", cfg.Profile), &credentials.FileAWSCredentials{Profile: cfg.Profile}}
	chain := []source{file}
	if o.Profile == "" {
		chain = []source{{"environment", &credentials.EnvAWS{}}, file}
		if !strings.EqualFold(os.Getenv("AWS_EC2_METADATA_DISABLED"), "true") {
			chain = append(chain, source{"instance role", &credentials.IAM{}})
		}
	}
	cc := &credentials.CredContext{Client: http.DefaultClient, Context: ctx}
	for _, s := range chain {
		v, err := s.p.RetrieveWithCredContext(cc)
		if err != nil || v.AccessKeyID == "" || v.SecretAccessKey == "" {
			continue
		}
		cfg.Creds, cfg.CredsFrom = credentials.New(s.p), s.name
		return cfg, nil
	}
	if o.Profile != "" {
		return ClientConfig{}, fmt.Errorf("%w: profile %q has no usable credentials", ErrConfig, o.Profile)
	}
	cfg.Creds, cfg.CredsFrom = credentials.NewStatic("", "", "", credentials.SignatureAnonymous), "none (anonymous)"
	return cfg, nil
}

// NewClient connects a minio-go client with cfg.
func NewClient(cfg ClientConfig) (*minio.Client, error) {
	c, err := minio.New(cfg.Endpoint, &minio.Options{Creds: cfg.Creds, Secure: cfg.Secure, Region: cfg.Region})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return c, nil
}

// parseEndpoint splits an endpoint URL into minio-go's host and TLS flag.
// A bare host:port means https, as in the AWS CLI.
func parseEndpoint(s string) (host string, secure bool, err error) {
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", false, fmt.Errorf("%w: endpoint %q: %v", ErrConfig, s, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", false, fmt.Errorf("%w: endpoint %q: want http or https", ErrConfig, s)
	case u.Host == "":
		return "", false, fmt.Errorf("%w: endpoint %q has no host", ErrConfig, s)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.User != nil:
		return "", false, fmt.Errorf("%w: endpoint %q: only scheme://host[:port] (buckets are named by s3://bucket)", ErrConfig, s)
	}
	return u.Host, u.Scheme == "https", nil
}

// loadConfigProfile reads the profile's keys from the shared config file
// (AWS_CONFIG_FILE or ~/.aws/config): [default] or [profile NAME]. A missing
// file is no keys.
func loadConfigProfile(profile string) (map[string]string, error) {
	name := os.Getenv("AWS_CONFIG_FILE")
	if name == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, nil
		}
		name = filepath.Join(home, ".aws", "config")
	}
	f, err := ini.Load(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrConfig, name, err)
	}
	section := "profile " + profile
	if profile == "default" && !f.HasSection(section) {
		section = "default"
	}
	if !f.HasSection(section) {
		return nil, nil
	}
	return f.Section(section).KeysHash(), nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
