package redisstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config says how to reach the Redis that holds sessions. One server,
// Sentinel or Cluster are chosen by the fields: master_name set means
// Sentinel, several addrs (or cluster: true) means Cluster, otherwise a
// single server.
type Config struct {
	// Addrs are host:port addresses: the server, the Sentinels (with
	// master_name) or cluster seed nodes. Default ["127.0.0.1:6379"].
	Addrs []string `yaml:"addrs"`
	// MasterName is the Sentinel master set's name; setting it selects
	// Sentinel. Default empty (no Sentinel).
	MasterName string `yaml:"master_name"`
	// Cluster selects Redis Cluster even when addrs has a single seed node.
	// Default false (Cluster only with several addrs).
	Cluster bool `yaml:"cluster"`
	// Username is the Redis ACL user. Default empty (the default user).
	Username string `yaml:"username"`
	// PasswordFile is a file holding the Redis password (surrounding
	// whitespace is ignored). Default empty: no password.
	PasswordFile string `yaml:"password_file"`
	// DB is the database number on a single server or Sentinel; Cluster
	// only has 0. Default 0.
	DB int `yaml:"db"`
	// TLS connects with TLS 1.2 or later, verifying the server's certificate
	// against the system roots. Default false.
	TLS bool `yaml:"tls"`
	// DialTimeout bounds connecting to Redis. Default 2s: sessions are on
	// every request's path, so an unreachable Redis must fail fast (closed).
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ReadTimeout bounds each reply (and each write). Default 1s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// PoolSize is the number of connections per node. Default 10 per CPU.
	PoolSize int `yaml:"pool_size"`
	// KeyPrefix starts every key, so several deployments can share one
	// Redis. It must not contain "{" or "}" (a hash tag would put every key
	// on one Cluster shard). Default "cg:".
	KeyPrefix string `yaml:"key_prefix"`
	// LocalCache keeps recently read sessions in each replica's memory, so
	// that most requests need no Redis command of their own. A change or
	// logout on any replica is still seen by every replica at once: each
	// read waits for a read barrier on the invalidation channel (one PING
	// shared by the requests that arrive together), and when that channel
	// is not healthy the read goes to Redis. Not available with Cluster
	// (ignored there). Default true.
	LocalCache *bool `yaml:"local_cache"`
	// LocalCacheEntries bounds the local cache per replica (a session
	// takes about 1.5 KB). Default 10000.
	LocalCacheEntries int `yaml:"local_cache_entries"`
}

// DefaultLocalCacheEntries is LocalCacheEntries' default.
const DefaultLocalCacheEntries = 10000

// StoreOptions returns the Options for New that c asks for.
func (c Config) StoreOptions() Options {
	o := Options{Prefix: c.KeyPrefix}
	if c.LocalCache == nil || *c.LocalCache {
		o.LocalCache = c.LocalCacheEntries
		if o.LocalCache == 0 {
			o.LocalCache = DefaultLocalCacheEntries
		}
	}
	return o
}

// Default timeouts, documented on Config.
const (
	DefaultDialTimeout = 2 * time.Second
	DefaultReadTimeout = time.Second
)

// Validate reports every problem in c at once.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for i, a := range c.Addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			add("addrs[%d]: %q is not host:port", i, a)
			continue
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			add("addrs[%d]: port %q is not a number from 1 to 65535", i, port)
		}
	}
	if c.MasterName != "" && c.Cluster {
		add("master_name: Sentinel and cluster: true cannot be combined")
	}
	if c.DB < 0 {
		add("db: must not be negative")
	} else if c.DB != 0 && c.clusterMode() {
		add("db: Redis Cluster only has database 0")
	}
	if c.DialTimeout < 0 {
		add("dial_timeout: must not be negative")
	}
	if c.ReadTimeout < 0 {
		add("read_timeout: must not be negative")
	}
	if c.PoolSize < 0 {
		add("pool_size: must not be negative")
	}
	if c.LocalCacheEntries < 0 {
		add("local_cache_entries: must not be negative")
	}
	if strings.ContainsAny(c.KeyPrefix, "{} \t\r\n") {
		add("key_prefix: must not contain braces or whitespace")
	}
	return errors.Join(errs...)
}

func (c Config) clusterMode() bool {
	return c.MasterName == "" && (c.Cluster || len(c.Addrs) > 1)
}

// NewClient returns a client for c, after validating it and reading the
// password file. It does not connect: the first command (or Store.Ping)
// does. Context deadlines bound every command, and a failed command is
// retried at most once (a pooled connection may have gone stale) and a
// failed connection attempt once, so a Redis outage is reported within
// about two timeouts and at once when the port is closed.
func NewClient(c Config) (redis.UniversalClient, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("redisstore: invalid configuration: %w", err)
	}
	var password string
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("redisstore: password_file: %w", err)
		}
		password = strings.TrimSpace(string(b))
		if password == "" {
			return nil, fmt.Errorf("redisstore: password_file: %s is empty", c.PasswordFile)
		}
	}
	addrs := c.Addrs
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1:6379"}
	}
	o := &redis.UniversalOptions{
		Addrs:                 addrs,
		MasterName:            c.MasterName,
		IsClusterMode:         c.Cluster,
		Username:              c.Username,
		Password:              password,
		DB:                    c.DB,
		DialTimeout:           c.DialTimeout,
		ReadTimeout:           c.ReadTimeout,
		WriteTimeout:          c.ReadTimeout,
		PoolSize:              c.PoolSize,
		ContextTimeoutEnabled: true,
		MaxRetries:            1,
		// go-redis otherwise tries five dials 100ms apart for every command,
		// which turns an outage into half-second stalls on every request.
		DialerRetries:      2,
		DialerRetryTimeout: 50 * time.Millisecond,
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = DefaultReadTimeout
		o.WriteTimeout = DefaultReadTimeout
	}
	if c.TLS {
		// ServerName is left empty: the dialer fills it in per node from
		// the address, which Cluster and Sentinel need.
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return redis.NewUniversalClient(o), nil
}
