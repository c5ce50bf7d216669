package dataset

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults for the zero values of DownloadOptions.
const (
	DefaultRetries      = 3
	DefaultStallTimeout = 30 * time.Second
	DefaultBackoff      = time.Second
	// DefaultMaxBytes bounds one download. The largest real file is 26 MB;
	// the bound keeps a hostile or broken server from filling the disk.
	DefaultMaxBytes = 100 << 20

	// maxBackoff caps the doubling back-off between attempts.
	maxBackoff = time.Minute
)

// DownloadOptions configures Download. Only Spec and Dir are required.
type DownloadOptions struct {
	Spec Spec   // the data set; its Files' MD5s decide what is valid
	Dir  string // destination folder, created if needed

	// Mirrors overrides Spec.Mirrors: base URLs (http, https or
	// file:///abs/path/) tried in order; a missing trailing "/" is added.
	Mirrors []string

	// Force downloads files again even if present with the right MD5.
	Force bool

	// Client makes the HTTP requests; nil uses one with connect, TLS and
	// response-header timeouts. Its overall Timeout, if any, also applies.
	Client *http.Client

	// Retries is the number of attempts per URL; 0 means DefaultRetries.
	// Errors that cannot go away by retrying (HTTP 404, an MD5 mismatch)
	// move on to the next URL at once.
	Retries int

	// Backoff is the wait before the second attempt at a URL, doubling
	// for each further attempt; 0 means DefaultBackoff.
	Backoff time.Duration

	// StallTimeout aborts an attempt when no bytes arrive for this long,
	// while connecting, waiting for the response or reading the body;
	// 0 means DefaultStallTimeout.
	StallTimeout time.Duration

	// MaxBytes is the largest file accepted; 0 means DefaultMaxBytes.
	MaxBytes int64

	// Progress, if not nil, is called at the start of each attempt with
	// the file name and its size (-1 if unknown); the returned writer, if
	// not nil, gets the bytes as they arrive. Its errors are ignored.
	Progress func(name string, total int64) io.Writer

	// Log, if not nil, gets one line per file: "skip NAME (present, MD5
	// ok)" or "fetched NAME from URL".
	Log io.Writer
}

// Download makes sure the four files of o.Spec are in o.Dir with the right
// MD5s, fetching those that are absent or wrong (all of them if o.Force).
//
// Each file is streamed into a temporary file in o.Dir while its MD5 is
// computed, and renamed to its final name only once the sum matches, so a
// file under its final name is never partial or corrupt and no temporary file
// outlives the call. A failed attempt is retried with back-off, then the next
// mirror is tried; if all fail, the error names the file, the last URL and
// why it failed.
func Download(ctx context.Context, o DownloadOptions) error {
	d := downloader{DownloadOptions: o}
	if d.Dir == "" {
		return errors.New("download: no data folder given; pass --data DIR")
	}
	if len(d.Mirrors) == 0 {
		d.Mirrors = d.Spec.Mirrors
	}
	if len(d.Mirrors) == 0 {
		return fmt.Errorf("download %s: no mirrors known; pass --mirror with a base URL", d.Spec.Name)
	}
	for _, f := range d.Spec.Files {
		// A name with a separator could write outside Dir.
		if f.Name == "" || f.Name != filepath.Base(f.Name) || strings.ContainsAny(f.Name, `/\`) {
			return fmt.Errorf("download %s: bad file name %q in the dataset spec", d.Spec.Name, f.Name)
		}
		if f.MD5 == "" {
			return fmt.Errorf("download %s: no MD5 for %s in the dataset spec", d.Spec.Name, f.Name)
		}
	}
	if d.Client == nil {
		d.Client = defaultClient()
	}
	if d.Retries <= 0 {
		d.Retries = DefaultRetries
	}
	if d.Backoff <= 0 {
		d.Backoff = DefaultBackoff
	}
	if d.StallTimeout <= 0 {
		d.StallTimeout = DefaultStallTimeout
	}
	if d.MaxBytes <= 0 {
		d.MaxBytes = DefaultMaxBytes
	}
	if d.Log == nil {
		d.Log = io.Discard
	}
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return fmt.Errorf("download %s: create data folder: %w; pass --data with a folder you can write", d.Spec.Name, err)
	}

	for _, f := range d.Spec.Files {
		path := filepath.Join(d.Dir, f.Name)
		if !d.Force {
			if sum, err := fileMD5(path); err == nil && strings.EqualFold(sum, f.MD5) {
				fmt.Fprintf(d.Log, "skip %s (present, MD5 ok)\n", f.Name)
				continue
			}
		}
		if err := d.fetch(ctx, f, path); err != nil {
			return err
		}
	}
	return nil
}

// defaultClient bounds every phase that can hang before the body starts;
// the body itself is bounded by the stall timeout instead of a total
// timeout, so a slow but steady link still succeeds.
func defaultClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          4,
		ForceAttemptHTTP2:     true,
	}}
}

// downloader is DownloadOptions with the defaults filled in.
type downloader struct {
	DownloadOptions
}

// fetch tries every mirror for f until one yields a file with the right MD5.
func (d *downloader) fetch(ctx context.Context, f File, path string) error {
	var (
		lastURL  string
		lastErr  error
		attempts int
	)
	for _, base := range d.Mirrors {
		u := joinURL(base, f.Name)
		lastURL, attempts = u, 0
		for attempt := 1; attempt <= d.Retries; attempt++ {
			if attempt > 1 {
				if err := sleep(ctx, d.backoff(attempt)); err != nil {
					return fmt.Errorf("download %s from %s: %w", f.Name, u, err)
				}
			}
			attempts++
			err := d.try(ctx, u, f, path)
			if err == nil {
				fmt.Fprintf(d.Log, "fetched %s from %s\n", f.Name, u)
				return nil
			}
			lastErr = err
			if ctx.Err() != nil {
				return fmt.Errorf("download %s from %s: %w", f.Name, u, ctx.Err())
			}
			var p *permanentError
			if errors.As(err, &p) {
				break
			}
		}
	}
	tries := "1 attempt"
	if attempts > 1 {
		tries = fmt.Sprintf("%d attempts", attempts)
	}
	failed := "the mirror failed"
	if len(d.Mirrors) > 1 {
		failed = fmt.Sprintf("all %d mirrors failed", len(d.Mirrors))
	}
	return fmt.Errorf("download %s: %s; last tried %s (%s): %w; check the network, or pass --mirror with another base URL, or --data with a folder that has the files",
		f.Name, failed, lastURL, tries, lastErr)
}

// backoff returns the wait before the given attempt (2 or more).
func (d *downloader) backoff(attempt int) time.Duration {
	w := d.Backoff
	for i := 2; i < attempt && w < maxBackoff; i++ {
		w *= 2
	}
	return min(w, maxBackoff)
}

// sleep waits for w or until ctx is done.
func sleep(ctx context.Context, w time.Duration) error {
	t := time.NewTimer(w)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// permanentError marks a failure that retrying the same URL cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// permanent wraps a formatted error as a permanentError.
func permanent(format string, args ...any) error {
	return &permanentError{fmt.Errorf(format, args...)}
}

// try makes one attempt to fetch u into path.
func (d *downloader) try(ctx context.Context, u string, f File, path string) error {
	// The watchdog cancels the attempt when the timer runs out; every byte
	// that arrives winds it up again.
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stalled atomic.Bool
	watchdog := time.AfterFunc(d.StallTimeout, func() {
		stalled.Store(true)
		cancel()
	})
	defer watchdog.Stop()

	err := d.stream(actx, u, f, path, watchdog)
	if err != nil && stalled.Load() && ctx.Err() == nil {
		return fmt.Errorf("stalled: no data for %v", d.StallTimeout)
	}
	return err
}

// stream opens u and copies it into a temporary file, renaming that to path
// if the MD5 matches.
func (d *downloader) stream(ctx context.Context, u string, f File, path string, watchdog *time.Timer) (err error) {
	body, total, err := d.open(ctx, u)
	if err != nil {
		return err
	}
	defer body.Close()
	watchdog.Reset(d.StallTimeout)
	if total > d.MaxBytes {
		return permanent("file is %d bytes, over the %d-byte limit", total, d.MaxBytes)
	}

	tmp, err := os.CreateTemp(d.Dir, "."+f.Name+".*.part")
	if err != nil {
		return permanent("create temporary file: %w; pass --data with a folder you can write", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	h := md5.New()
	var w io.Writer = io.MultiWriter(tmp, h)
	if d.Progress != nil {
		if pw := d.Progress(f.Name, total); pw != nil {
			w = io.MultiWriter(w, ignoreErrors{pw})
		}
	}
	src := &stallReader{r: io.LimitReader(body, d.MaxBytes+1), timer: watchdog, d: d.StallTimeout}
	n, err := io.Copy(w, src)
	switch {
	case err != nil && errors.Is(err, io.ErrUnexpectedEOF) && total >= 0:
		return fmt.Errorf("connection closed after %d of %d bytes", n, total)
	case err != nil:
		return fmt.Errorf("after %d bytes: %w", n, unwrapURL(err))
	case n > d.MaxBytes:
		return permanent("file is over the %d-byte limit", d.MaxBytes)
	case total >= 0 && n != total:
		return fmt.Errorf("got %d of %d bytes", n, total)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(sum, f.MD5) {
		return permanent("MD5 mismatch: got %s, want %s (the file there is damaged or a different version)", sum, f.MD5)
	}

	// Sync before rename so that a crash cannot leave a final name
	// pointing at data that never reached the disk.
	if err := tmp.Chmod(0o644); err != nil {
		return permanent("%w", err)
	}
	if err := tmp.Sync(); err != nil {
		return permanent("%w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		done = true
		return permanent("%w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		done = true
		return permanent("%w", err)
	}
	done = true
	syncDir(d.Dir)
	return nil
}

// open starts reading u and returns its body and size (-1 if unknown).
func (d *downloader) open(ctx context.Context, u string) (io.ReadCloser, int64, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, 0, permanent("bad URL: %w", err)
	}
	switch pu.Scheme {
	case "file":
		if pu.Host != "" && pu.Host != "localhost" {
			return nil, 0, permanent("file URL needs an absolute path, like file:///data/mnist/")
		}
		fh, err := os.Open(pu.Path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, 0, permanent("no such file")
			}
			return nil, 0, permanent("%w", err)
		}
		fi, err := fh.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			fh.Close()
			return nil, 0, permanent("not a regular file")
		}
		return fh, fi.Size(), nil
	case "http", "https":
	default:
		return nil, 0, permanent("unsupported URL scheme %q: use http, https or file", pu.Scheme)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, permanent("bad URL: %w", err)
	}
	req.Header.Set("User-Agent", "softmaxctl")
	resp, err := d.Client.Do(req)
	if err != nil {
		// A host that does not resolve will not resolve a second later
		// either: offline, fail at once instead of after the back-offs.
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return nil, 0, &permanentError{unwrapURL(err)}
		}
		return nil, 0, unwrapURL(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		err := fmt.Errorf("HTTP %s", resp.Status)
		// 4xx other than timeout and rate limiting will not change on
		// retry.
		c := resp.StatusCode
		if c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests {
			return nil, 0, &permanentError{err}
		}
		return nil, 0, err
	}
	return resp.Body, resp.ContentLength, nil
}

// unwrapURL drops the *url.Error wrapper, whose message repeats the URL that
// the final error already names.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// joinURL appends name to base, adding the "/" that users often leave off.
func joinURL(base, name string) string {
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base + name
}

// stallReader winds up the watchdog timer whenever bytes arrive.
type stallReader struct {
	r     io.Reader
	timer *time.Timer
	d     time.Duration
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.timer.Reset(s.d)
	}
	return n, err
}

// ignoreErrors keeps a failing progress display from failing the download.
type ignoreErrors struct{ w io.Writer }

func (i ignoreErrors) Write(p []byte) (int, error) {
	i.w.Write(p)
	return len(p), nil
}

// fileMD5 returns the hex MD5 of the file at path.
func fileMD5(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// syncDir makes a rename in dir durable. It is best effort: some systems
// cannot sync a folder, and the file itself is already synced.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}
