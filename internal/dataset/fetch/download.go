package fetch

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
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/atomicfile"
	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/safeopen"
)

// Defaults for the zero values of DownloadOptions.
const (
	DefaultRetries = 3
	// DefaultMinSpeed and DefaultSpeedTime make the low-speed rule: an
	// attempt is aborted when fewer than 1 KiB/s arrive over 30 s, which
	// also covers a server that never answers or stops sending.
	DefaultMinSpeed  = 1 << 10
	DefaultSpeedTime = 30 * time.Second
	DefaultBackoff   = time.Second
	// DefaultMaxBytes bounds one download. The largest real file is 26 MB;
	// the bound keeps a hostile or broken server from filling the disk.
	DefaultMaxBytes = 100 << 20

	// maxBackoff caps the doubling back-off between attempts.
	maxBackoff = time.Minute

	// maxRedirects bounds a chain of redirects, as browsers do.
	maxRedirects = 10

	// oldPartAge is how long ago a temporary file of an earlier version
	// (.<name>.<digits>.part) must have last been written to before
	// Download removes it. Those versions wrote continuously and gave up
	// after 30 s without data, so an older one belongs to a killed run.
	oldPartAge = 10 * time.Minute
)

// DownloadOptions configures Download. Only Spec and Dir are required.
type DownloadOptions struct {
	Spec dataset.Spec // the data set; its Files' MD5s decide what is valid
	Dir  string       // destination folder, created if needed

	// Mirrors overrides Spec.Mirrors: base URLs (http, https or
	// file:///abs/path/) tried in order; a missing trailing "/" is added.
	// Credentials in a URL (http://user:password@host/) and a query
	// (?token=…) are used but never shown: logs and errors print them as
	// "xxxxx" (see RedactURL). A file's name is appended to the path,
	// before the query.
	Mirrors []string

	// Force downloads files again even if present with the right MD5.
	// It takes precedence over OnlyMissing.
	Force bool

	// OnlyMissing fetches only the files that are not present as regular
	// files in Dir, and leaves present ones alone without checking their
	// MD5: users keep re-compressed copies, which Load reads but whose
	// MD5 differs from the published file's. Without it, a present file
	// with the wrong MD5 is replaced.
	OnlyMissing bool

	// Client makes the HTTP requests; nil uses one with connect and TLS
	// timeouts. Its overall Timeout, if any, also applies. Whatever the
	// client, Download sets its own redirect policy: redirects are
	// followed only within the mirror's scheme, host and port, or from
	// http on port 80 to https on port 443 of the same host name.
	Client *http.Client

	// Retries is the number of attempts per URL; 0 means DefaultRetries.
	// Errors that cannot go away by retrying (HTTP 404, an MD5 mismatch,
	// a refused redirect) move on to the next URL at once; a failure to
	// write the file locally (a full disk) ends the download at once.
	Retries int

	// Backoff is the wait before the second attempt at a URL, doubling
	// for each further attempt; 0 means DefaultBackoff.
	Backoff time.Duration

	// MinSpeed and SpeedTime make the low-speed rule, as curl's
	// --speed-limit and --speed-time: an attempt is aborted when fewer than
	// MinSpeed bytes per second arrive, on average, over SpeedTime, from
	// the start of the attempt (connecting and waiting for the answer
	// count) to its end. A link that trickles, stalls or never answers
	// thus fails in bounded time while a slow but steady one succeeds.
	// Zero values mean DefaultMinSpeed and DefaultSpeedTime.
	MinSpeed  int64
	SpeedTime time.Duration

	// MaxBytes is the largest file accepted; 0 means DefaultMaxBytes. It
	// also caps how much of a present file is read to check its MD5.
	MaxBytes int64

	// Progress, if not nil, is called at the start of each attempt with
	// the file name and its size (-1 if unknown); the returned writer, if
	// not nil, gets the bytes as they arrive. Its errors are ignored.
	Progress func(name string, total int64) io.Writer

	// Log, if not nil, gets one line per event: "skip NAME (present, MD5
	// ok)", "skip NAME (present)" (with OnlyMissing), "trying URL" before
	// each attempt and "fetched NAME from URL".
	Log io.Writer
}

// DownloadError reports that no mirror provided a file with the right MD5.
// It lists why each mirror failed; errors.Is and errors.As see every
// mirror's error.
type DownloadError struct {
	File     string        // the file's name
	Failures []MirrorError // one per mirror, in the order they were tried
}

// MirrorError is why one mirror failed to provide a file.
type MirrorError struct {
	URL      string // the file's URL, redacted by RedactURL
	Attempts int    // how many times it was tried
	Err      error  // the error of the last attempt
}

// Error says which URL failed, after how many attempts, and why.
func (e *MirrorError) Error() string {
	tries := "1 attempt"
	if e.Attempts != 1 {
		tries = fmt.Sprintf("%d attempts", e.Attempts)
	}
	return fmt.Sprintf("%s (%s): %v", e.URL, tries, e.Err)
}

// Unwrap returns the error of the last attempt.
func (e *MirrorError) Unwrap() error { return e.Err }

// Error says, on one line, how each mirror failed and what to do.
func (e *DownloadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "download %s: ", e.File)
	if len(e.Failures) == 1 {
		fmt.Fprintf(&b, "the mirror failed: %v", &e.Failures[0])
	} else {
		fmt.Fprintf(&b, "all %d mirrors failed:", len(e.Failures))
		for i := range e.Failures {
			if i > 0 {
				b.WriteString(";")
			}
			fmt.Fprintf(&b, " [%d] %v", i+1, &e.Failures[i])
		}
	}
	b.WriteString("; check the network or try another mirror")
	return b.String()
}

// Unwrap returns every mirror's *MirrorError, so that errors.Is and
// errors.As look at all of them.
func (e *DownloadError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i := range e.Failures {
		errs[i] = &e.Failures[i]
	}
	return errs
}

// Download makes sure the four files of o.Spec are in o.Dir with the right
// MD5s, fetching those that are absent or wrong (all of them if o.Force,
// only the absent ones if o.OnlyMissing).
//
// Each file is streamed into a temporary file in o.Dir (see package
// atomicfile) while its MD5 is computed, and renamed to its final name only
// once the sum matches, so a file under its final name is never partial or
// corrupt and no temporary file outlives the call; those of killed runs are
// removed. A failed attempt is retried with back-off, then the next mirror
// is tried; if all fail, the error is a *DownloadError. A failure to write
// locally is an *atomicfile.Error, returned at once, and a cancelled ctx
// gives an error that wraps ctx.Err(), also at once.
func Download(ctx context.Context, o DownloadOptions) error {
	d := downloader{DownloadOptions: o}
	if d.Dir == "" {
		return errors.New("download: no data folder given")
	}
	var system string // the system package's folder in use, if any
	if len(d.Mirrors) == 0 {
		d.Mirrors = d.Spec.Mirrors
		for _, dir := range d.Spec.SystemDirs {
			if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
				system = dir
				d.Mirrors = append([]string{fileURL(dir)}, d.Mirrors...)
				break
			}
		}
	}
	if len(d.Mirrors) == 0 {
		return fmt.Errorf("download %s: no mirrors known: give a base URL to download from", d.Spec.Name)
	}
	for _, f := range d.Spec.Downloads() {
		// A name with a separator could write outside Dir.
		if f.Name == "" || f.Name != filepath.Base(f.Name) || strings.ContainsAny(f.Name, `/\`) {
			return fmt.Errorf("download %s: bad file name %q in the dataset spec", d.Spec.Name, f.Name)
		}
		if f.MD5 == "" {
			return fmt.Errorf("download %s: no MD5 for %s in the dataset spec", d.Spec.Name, f.Name)
		}
	}
	client := d.Client
	if client == nil {
		client = defaultClient()
	}
	// A copy, so that the caller's client keeps its own policy.
	c := *client
	c.CheckRedirect = checkRedirect
	d.Client = &c
	if d.Retries <= 0 {
		d.Retries = DefaultRetries
	}
	if d.Backoff <= 0 {
		d.Backoff = DefaultBackoff
	}
	if d.MinSpeed <= 0 {
		d.MinSpeed = DefaultMinSpeed
	}
	if d.SpeedTime <= 0 {
		d.SpeedTime = DefaultSpeedTime
	}
	if d.MaxBytes <= 0 {
		d.MaxBytes = max(DefaultMaxBytes, d.Spec.MaxBytes)
	}
	if d.Log == nil {
		d.Log = io.Discard
	}
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return fmt.Errorf("download %s: cannot create data folder %s: %w; choose a folder you can write", d.Spec.Name, d.Dir, unwrapPath(err))
	}

	for _, f := range d.Spec.Downloads() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("download %s: %w", d.Spec.Name, err)
		}
		path := filepath.Join(d.Dir, f.Name)
		removeOldParts(d.Dir, f.Name)
		switch {
		case d.Force:
		case d.OnlyMissing && isFile(path):
			fmt.Fprintf(d.Log, "skip %s (present)\n", f.Name)
			continue
		case !d.OnlyMissing:
			sum, sha, err := fileSums(path, d.MaxBytes, f.SHA256 != "")
			if err == nil && strings.EqualFold(sum, f.MD5) {
				fmt.Fprintf(d.Log, "skip %s (present, MD5 ok)\n", f.Name)
				continue
			}
			if err == nil && f.SHA256 != "" && strings.EqualFold(sha, f.SHA256) {
				fmt.Fprintf(d.Log, "skip %s (present, a re-compressed copy of the official file: content SHA-256 ok)\n", f.Name)
				continue
			}
		}
		if system != "" {
			fmt.Fprintf(d.Log, "found %s in %s (installed by a system package): copying from there before trying the official mirrors\n", d.Spec.Name, system)
			system = ""
		}
		if err := d.fetch(ctx, f, path); err != nil {
			return err
		}
	}
	return nil
}

// defaultClient bounds the phases that have a natural limit: connecting
// and the TLS handshake. Waiting for the answer and reading the body are
// bounded by the low-speed rule instead of a total timeout, so a slow but
// steady link still succeeds. Compression is off: the MD5s are those of
// the files as published, so the bytes must arrive as they are stored.
func defaultClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          4,
		ForceAttemptHTTP2:     true,
		DisableCompression:    true,
	}}
}

// downloader is DownloadOptions with the defaults filled in.
type downloader struct {
	DownloadOptions
}

// fetch tries every mirror for f until one yields a file with the right MD5.
func (d *downloader) fetch(ctx context.Context, f dataset.File, path string) error {
	dl := &DownloadError{File: f.Name}
	for _, base := range d.Mirrors {
		u := joinURL(base, f.Name)
		shown := RedactURL(u)
		var last error
		attempts := 0
		for attempt := 1; attempt <= d.Retries; attempt++ {
			if attempt > 1 {
				if err := sleep(ctx, d.backoff(attempt)); err != nil {
					return fmt.Errorf("download %s from %s: %w", f.Name, shown, err)
				}
				fmt.Fprintf(d.Log, "trying %s again (attempt %d of %d)\n", shown, attempt, d.Retries)
			} else {
				fmt.Fprintf(d.Log, "trying %s\n", shown)
			}
			attempts++
			recompressed, err := d.try(ctx, u, f, path)
			if err == nil {
				if recompressed {
					fmt.Fprintf(d.Log, "fetched %s from %s (a re-compressed copy of the official file: content SHA-256 ok)\n", f.Name, shown)
				} else {
					fmt.Fprintf(d.Log, "fetched %s from %s\n", f.Name, shown)
				}
				return nil
			}
			if ctx.Err() != nil {
				return fmt.Errorf("download %s from %s: %w", f.Name, shown, ctx.Err())
			}
			// The local disk, not the mirror, failed: another attempt
			// or mirror would fail the same way.
			var local *atomicfile.Error
			if errors.As(err, &local) {
				return fmt.Errorf("download %s: %w", f.Name, err)
			}
			last = err
			var p *permanentError
			if errors.As(err, &p) {
				break
			}
		}
		dl.Failures = append(dl.Failures, MirrorError{URL: shown, Attempts: attempts, Err: last})
	}
	return dl
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

// sink is where a download is written: an *atomicfile.File, or in tests a
// fake that fails as a full disk would.
type sink interface {
	io.Writer
	Commit() error
	Abort()
}

// createSink starts the atomic write of a downloaded file; tests replace it.
var createSink = func(path string) (sink, error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// try makes one attempt to fetch u into path: it streams the body into a
// temporary file while hashing it, and commits the file only if the MD5
// matches or, for a file whose spec has a content SHA-256, if the
// decompressed bytes' SHA-256 does (recompressed is then true).
func (d *downloader) try(ctx context.Context, u string, f dataset.File, path string) (recompressed bool, err error) {
	err = d.try1(ctx, u, f, path, &recompressed)
	return recompressed, err
}

func (d *downloader) try1(ctx context.Context, u string, f dataset.File, path string, recompressed *bool) error {
	// The destination first, before any network traffic: a folder that
	// cannot take the file fails at once.
	out, err := createSink(path)
	if err != nil {
		return err
	}
	defer out.Abort()

	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	meter := startMeter(d.MinSpeed, d.SpeedTime, cancel)
	defer meter.stop()
	slow := func(err error) error {
		if meter.fired.Load() && ctx.Err() == nil {
			return fmt.Errorf("too slow: under %s for %v", rate(d.MinSpeed), d.SpeedTime)
		}
		return err
	}

	body, total, err := d.open(actx, u)
	if err != nil {
		return slow(err)
	}
	defer body.Close()
	if total > d.MaxBytes {
		return permanent("file is %d bytes, over the %d-byte limit", total, d.MaxBytes)
	}

	h := md5.New()
	var w io.Writer = io.MultiWriter(out, h)
	var content *contentHasher
	if f.SHA256 != "" {
		content = newContentHasher()
		defer content.abort()
		w = io.MultiWriter(w, content)
	}
	if d.Progress != nil {
		if pw := d.Progress(f.Name, total); pw != nil {
			w = io.MultiWriter(w, ignoreErrors{pw})
		}
	}
	src := &countingReader{r: io.LimitReader(body, d.MaxBytes+1), n: &meter.n}
	n, err := io.Copy(w, src)
	var local *atomicfile.Error
	switch {
	case err != nil && errors.As(err, &local):
		return err
	case err != nil && errors.Is(err, io.ErrUnexpectedEOF) && total >= 0:
		return slow(fmt.Errorf("connection closed after %d of %d bytes", n, total))
	case err != nil:
		return slow(fmt.Errorf("after %d bytes: %w", n, unwrapURL(err)))
	case n > d.MaxBytes:
		return permanent("file is over the %d-byte limit", d.MaxBytes)
	case total >= 0 && n != total:
		return fmt.Errorf("got %d of %d bytes", n, total)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(sum, f.MD5) {
		if content == nil {
			return permanent("MD5 mismatch: got %s, want %s (the file there is damaged or a different version)", sum, f.MD5)
		}
		sha, err := content.result()
		if err != nil {
			return permanent("MD5 mismatch: got %s, want %s, and its content cannot be read (%v): the file there is damaged", sum, f.MD5, err)
		}
		if !strings.EqualFold(sha, f.SHA256) {
			return permanent("MD5 mismatch: got %s, want %s, and the decompressed content's SHA-256 is %s, not the official %s (the file there is damaged or a different version)", sum, f.MD5, sha, f.SHA256)
		}
		*recompressed = true
	}
	return out.Commit()
}

// open starts reading u and returns its body and size (-1 if unknown).
func (d *downloader) open(ctx context.Context, u string) (io.ReadCloser, int64, error) {
	pu, err := url.Parse(u)
	if err != nil {
		// Not err itself, whose message repeats the URL with any password.
		return nil, 0, permanent("bad URL: %w", parseProblem(u, err))
	}
	switch pu.Scheme {
	case "file":
		if pu.Host != "" && pu.Host != "localhost" {
			return nil, 0, permanent("file URL needs an absolute path, like file:///data/mnist/")
		}
		// safeopen refuses a FIFO without blocking, and a device such as
		// /dev/zero, which would never end.
		fh, info, err := safeopen.Open(pu.Path)
		if err != nil {
			var nr *safeopen.NotRegularError
			switch {
			case errors.As(err, &nr):
				return nil, 0, &permanentError{err}
			case errors.Is(err, os.ErrNotExist):
				return nil, 0, permanent("no such file")
			}
			return nil, 0, permanent("%w", unwrapPath(err))
		}
		return fh, info.Size(), nil
	case "http", "https":
	default:
		return nil, 0, permanent("unsupported URL scheme %q: use http, https or file", pu.Scheme)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, permanent("bad URL: %w", parseProblem(u, err))
	}
	req.Header.Set("User-Agent", "softmaxctl")
	// Setting the header keeps Go's transport from asking for gzip and
	// then decompressing transparently: a static server that labels a .gz
	// file "Content-Encoding: gzip" would otherwise hand over different
	// bytes than the ones the MD5 is of.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := d.Client.Do(req)
	if err != nil {
		var re *redirectError
		if errors.As(err, &re) {
			return nil, 0, &permanentError{re}
		}
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

// redirectError is a redirect that Download refuses to follow.
type redirectError struct {
	to   string // the target, redacted
	from string // the host of the mirror
	why  string
}

func (e *redirectError) Error() string {
	return fmt.Sprintf("refused redirect to %s: %s; downloads follow redirects only within the mirror's host %s (or from http on port 80 to https on 443)", e.to, e.why, e.from)
}

// checkRedirect is the redirect policy of every download: a mirror may
// send the client elsewhere on its own host and port, or from http on port
// 80 to https on port 443 of the same host name, but not to another host
// (such as a cloud metadata address) or port, not back from https to http,
// and never to a file: URL.
func checkRedirect(req *http.Request, via []*http.Request) error {
	orig, prev, to := via[0].URL, via[len(via)-1].URL, req.URL
	refuse := func(why string) error {
		return &redirectError{to: RedactURL(to.String()), from: orig.Host, why: why}
	}
	switch {
	case len(via) >= maxRedirects:
		return refuse(fmt.Sprintf("more than %d redirects", maxRedirects))
	case to.Scheme != "http" && to.Scheme != "https":
		return refuse(fmt.Sprintf("it is a %s: URL", to.Scheme))
	case !strings.EqualFold(to.Hostname(), orig.Hostname()):
		return refuse("another host")
	case prev.Scheme == "https" && to.Scheme == "http":
		return refuse("it leaves https")
	case to.Scheme == prev.Scheme && port(to) != port(prev):
		return refuse("another port")
	case to.Scheme != prev.Scheme && (port(prev) != "80" || port(to) != "443"):
		// http to https: another service could listen on another port
		// of the host, so only the two default ports make a pair.
		return refuse("another port (http to https is followed only from port 80 to 443)")
	}
	return nil
}

// port returns u's port, or its scheme's default.
func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// unwrapURL drops the *url.Error wrapper, whose message repeats the URL
// (which the final error names already, redacted).
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// fileURL is the file: base URL of the folder dir.
func fileURL(dir string) string {
	p := filepath.ToSlash(dir)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return (&url.URL{Scheme: "file", Path: strings.TrimSuffix(p, "/") + "/"}).String()
}

// rate formats a speed in bytes per second for a message.
func rate(bps int64) string {
	switch {
	case bps >= 1<<20 && bps%(1<<20) == 0:
		return fmt.Sprintf("%d MiB/s", bps>>20)
	case bps >= 1<<10 && bps%(1<<10) == 0:
		return fmt.Sprintf("%d KiB/s", bps>>10)
	}
	return fmt.Sprintf("%d B/s", bps)
}

// meter enforces the low-speed rule on one attempt: it samples the bytes
// received so far a few times per window, and cancels the attempt when
// fewer than minRate bytes per second arrived over the last window.
type meter struct {
	n     atomic.Int64 // bytes received, updated by countingReader
	fired atomic.Bool  // the rule cancelled the attempt
	done  chan struct{}
}

// startMeter starts watching; cancel is called if the rule fires.
func startMeter(minRate int64, window time.Duration, cancel func()) *meter {
	m := &meter{done: make(chan struct{})}
	tick := min(max(window/10, 10*time.Millisecond), time.Second)
	go func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		type sample struct {
			at time.Time
			n  int64
		}
		samples := []sample{{time.Now(), 0}}
		for {
			select {
			case <-m.done:
				return
			case now := <-t.C:
				n := m.n.Load()
				samples = append(samples, sample{now, n})
				// Keep as the oldest sample the newest one that is at
				// least a window old: the rate is measured over it.
				for len(samples) > 1 && now.Sub(samples[1].at) >= window {
					samples = samples[1:]
				}
				ref := samples[0]
				if el := now.Sub(ref.at); el >= window && float64(n-ref.n) < float64(minRate)*el.Seconds() {
					m.fired.Store(true)
					cancel()
					return
				}
			}
		}
	}()
	return m
}

func (m *meter) stop() { close(m.done) }

// countingReader adds the bytes it reads to n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// ignoreErrors keeps a failing progress display from failing the download.
type ignoreErrors struct{ w io.Writer }

func (i ignoreErrors) Write(p []byte) (int, error) {
	i.w.Write(p)
	return len(p), nil
}

// fileMD5 returns the hex MD5 of the regular file at path, reading at most
// max bytes: a FIFO or a link to /dev/zero is refused rather than hashed for
// ever, and a file over max is an error.
func fileMD5(path string, max int64) (string, error) {
	f, info, err := safeopen.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if info.Size() > max {
		return "", fmt.Errorf("%s is over the %d-byte limit", path, max)
	}
	h := md5.New()
	n, err := io.Copy(h, io.LimitReader(f, max+1))
	if err != nil {
		return "", err
	}
	if n > max {
		return "", fmt.Errorf("%s is over the %d-byte limit", path, max)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// removeOldParts removes the temporary files that earlier versions of
// Download left in dir for name when killed (.<name>.<digits>.part, as
// os.CreateTemp named them), once they are oldPartAge old. The temporary
// files of this version are atomicfile's, which cleans them itself.
func removeOldParts(dir, name string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	re := regexp.MustCompile(`^\.` + regexp.QuoteMeta(name) + `\.[0-9]+\.part$`)
	for _, e := range entries {
		if !e.Type().IsRegular() || !re.MatchString(e.Name()) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > oldPartAge {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// isFile reports whether path is a regular file (following links).
func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// unwrapPath drops the *fs.PathError wrapper, whose message repeats a path
// that the final error names already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
