// Package atomicfile writes files so that no reader ever sees a partial
// one: the content goes to a temporary file in the destination's folder,
// which is synced and then renamed over the destination. A failure at any
// point removes the temporary file and leaves whatever was at the
// destination untouched. Models, plots, pictures and downloads are all
// written this way.
//
// Only regular files are written. A destination that exists and is
// anything else (a directory, a character device such as /dev/null or
// /dev/stdout, a named pipe, a socket) is refused, never replaced and never
// written through: renaming over a device node would destroy it, and
// writing through to one would lose the atomicity this package promises.
// A symbolic link stays a link: the file it leads to (through any chain of
// links, relative or absolute) is the one replaced. Because the links are
// followed here rather than by the kernel, the kernel's protected_symlinks
// rule is applied here too: in a sticky, world-writable folder such as
// /tmp, a link is followed only when it belongs to the caller or to the
// folder's owner, so that another user's planted link cannot make root
// overwrite a file it points to.
//
// A new file gets mode 0666 less the process's umask, like any file a
// program creates; a replaced file keeps its permission bits and, where
// the system allows, its owner and group.
//
// Temporary files are named .<name>.tmp-<pid>-<random>, with the pid of the
// writing process. Create removes those of the same destination whose
// process is gone (killed during a write), so they do not accumulate, and
// leaves those of live writers alone.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/safeopen"
)

// rename is the final step of Commit, replaced by tests to exercise the
// cleanup after the temporary file has been written.
var rename = os.Rename

const (
	// maxLinks bounds how many symbolic links Create follows, as the
	// kernel does, so that a loop of links is an error, not a hang.
	maxLinks = 40

	// maxTempBase bounds the part of a destination's name that goes into
	// its temporary file's name, so that the temporary name stays within
	// the 255 bytes most file systems allow.
	maxTempBase = 200

	// staleAge is how old a temporary file whose writer cannot be checked
	// (one without a pid, or on a system where Create cannot ask whether a
	// process lives) must be before Create removes it. A live writer
	// finishes far sooner.
	staleAge = time.Hour
)

// errLinkLoop is the cause of an *Error for a destination behind more than
// maxLinks symbolic links.
var errLinkLoop = errors.New("too many levels of symbolic links")

// Error is a failure of the local file system to take a file: a
// destination that cannot be written, a folder that is missing or read-only,
// a full disk. It is the data's destination that failed, not its source, so
// retrying the same write will not help. Its message is one line that names
// the file, says what went wrong and what to do.
type Error struct {
	Op   string // what failed: "check", "create", "write", "sync", "close" or "rename"
	Path string // the destination as the caller named it
	// Err is the cause: an errno such as syscall.ENOSPC (test with
	// errors.Is), or a *safeopen.NotRegularError for a destination that
	// is a directory, a device, a pipe or a socket.
	Err error

	dir string // the folder written to, after links; "" means Path's folder
}

// Error words the failure from its cause, with advice on what to do.
func (e *Error) Error() string {
	path := safeopen.Printable(e.Path)
	dir := e.dir
	if dir == "" {
		dir = filepath.Dir(e.Path)
	}
	name, dir := safeopen.Printable(filepath.Base(e.Path)), safeopen.Printable(dir)
	var nr *safeopen.NotRegularError
	var ul *UnsafeLinkError
	switch {
	case e.Path == "":
		return "no file name given: give the path of a file to write"
	case errors.As(e.Err, &nr) && nr.Mode.IsDir():
		return fmt.Sprintf("%s is a directory: give the path of a file to write", path)
	case errors.As(e.Err, &nr):
		what := path + " is"
		if nr.Path != e.Path {
			what = fmt.Sprintf("%s leads to %s, which is", path, safeopen.Printable(nr.Path))
		}
		return fmt.Sprintf("%s %s, not a regular file: give the path of a regular file to write (devices, pipes and sockets are never replaced)",
			what, safeopen.Describe(nr.Mode))
	case errors.As(e.Err, new(cannotCreate)):
		return fmt.Sprintf("cannot write %s: %s does not allow creating files; choose another location", path, dir)
	case errors.Is(e.Err, fs.ErrNotExist):
		return fmt.Sprintf("cannot write %s: folder %s does not exist: create it first (mkdir -p %s)", path, dir, dir)
	case errors.Is(e.Err, syscall.ENOTDIR):
		return fmt.Sprintf("cannot write %s: %s is not a directory; give a path in an existing folder", path, dir)
	case errors.As(e.Err, &ul):
		what := "it is"
		if ul.Link != e.Path {
			what = "it leads through " + safeopen.Printable(ul.Link) + ","
		}
		return fmt.Sprintf("cannot write %s: %s a symbolic link owned by another user (uid %d) in the sticky, world-writable folder %s; it is not followed, as the kernel's protected_symlinks rule would not follow it: remove the link or choose another name",
			path, what, ul.Owner, safeopen.Printable(ul.Dir))
	case errors.Is(e.Err, errLinkLoop):
		return fmt.Sprintf("cannot write %s: too many levels of symbolic links; give the path of a file", path)
	case isNoSpace(e.Err):
		return fmt.Sprintf("no space left on device writing %s in %s: free some space or choose another location", name, dir)
	case isQuota(e.Err):
		return fmt.Sprintf("disk quota exceeded writing %s in %s: free some space or choose another location", name, dir)
	case isReadOnly(e.Err):
		return fmt.Sprintf("cannot write %s: %s is on a read-only file system; choose another location", path, dir)
	case errors.Is(e.Err, fs.ErrPermission):
		return fmt.Sprintf("cannot write %s: no permission to create files in %s; choose another location or fix the folder's permissions", path, dir)
	}
	return fmt.Sprintf("cannot write %s (%s in %s failed: %s); check free disk space and permissions", path, e.Op, dir, oneLine(e.Err))
}

// Unwrap returns the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// UnsafeLinkError is the cause of an *Error for a destination reached
// through a symbolic link that the kernel's protected_symlinks rule would
// not follow: one in a sticky, world-writable folder that belongs neither to
// the caller nor to the folder's owner.
type UnsafeLinkError struct {
	Link  string // the link, as reached while following the destination
	Owner int    // the link's owner
	Dir   string // the sticky, world-writable folder that holds it
}

func (e *UnsafeLinkError) Error() string {
	return fmt.Sprintf("symbolic link %s belongs to uid %d in the sticky, world-writable folder %s", safeopen.Printable(e.Link), e.Owner, safeopen.Printable(e.Dir))
}

// cannotCreate is the cause of an *Error when a folder exists but creating
// a file in it fails as if it did not, as in /proc.
type cannotCreate struct{ err error }

func (c cannotCreate) Error() string { return c.err.Error() }
func (c cannotCreate) Unwrap() error { return c.err }

// oneLine returns err's message with line breaks escaped.
func oneLine(err error) string {
	if err == nil {
		return "unknown error"
	}
	s := err.Error()
	if strings.ContainsAny(s, "\r\n") {
		q := strconv.Quote(s)
		s = q[1 : len(q)-1]
	}
	return s
}

// File is an atomic write in progress, made by Create. Write to it, then
// Commit to put it in place or Abort to drop it. A File is not safe for
// concurrent use.
type File struct {
	path   string   // destination as the caller named it
	target string   // destination after symbolic links
	dir    string   // folder of target, where the temporary file is
	tmp    string   // temporary file's path
	f      *os.File // the temporary file
	w      io.Writer
	err    error // first write error; later writes and Commit return it
	done   bool  // committed or aborted
}

// Create starts an atomic write of path; the content goes to a temp file in
// the destination's folder (after following symbolic links), with mode 0666
// less the umask, or the mode and owner of the file it will replace. It
// refuses a destination that exists and is not a regular file, and removes
// stale temporary files of the same destination (see the package
// documentation). Errors are *Error values.
func Create(path string) (*File, error) {
	target, dir, base, err := destination("create", path)
	if err != nil {
		return nil, err
	}
	old, _ := os.Stat(target) // nil for a new file; destination checked the type
	removeStale(dir, base)
	f, tmp, err := createTemp(dir, base)
	if err != nil {
		return nil, &Error{Op: "create", Path: path, Err: unwrapPath(err), dir: dir}
	}
	af := &File{path: path, target: target, dir: dir, tmp: tmp, f: f, w: f}
	if old != nil {
		// Before any data goes in, so that the content of a private file
		// is never readable by others, not even in the temporary file.
		keepOwner(f, old)
		if err := f.Chmod(old.Mode().Perm()); err != nil {
			af.Abort()
			return nil, &Error{Op: "create", Path: path, Err: unwrapPath(err), dir: dir}
		}
	}
	return af, nil
}

// Write writes p to the temporary file. After an error every later Write,
// and Commit, return the same *Error.
func (f *File) Write(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	if f.done {
		return 0, &Error{Op: "write", Path: f.path, Err: os.ErrClosed, dir: f.dir}
	}
	n, err := f.w.Write(p)
	if err != nil {
		f.err = &Error{Op: "write", Path: f.path, Err: unwrapPath(err), dir: f.dir}
		return n, f.err
	}
	return n, nil
}

// Commit makes the written content the destination's: it syncs the
// temporary file to disk (the mode was set by Create), closes it, renames it
// into place and syncs the folder. On any failure, including an earlier
// Write error, it removes the temporary file and leaves the destination as
// it was. Commit after Commit or Abort is an error.
func (f *File) Commit() error {
	if f.done {
		return &Error{Op: "rename", Path: f.path, Err: os.ErrClosed, dir: f.dir}
	}
	if f.err != nil {
		f.Abort()
		return f.err
	}
	fail := func(op string, err error) error {
		f.Abort()
		return &Error{Op: op, Path: f.path, Err: unwrapPath(err), dir: f.dir}
	}
	// Sync before rename: otherwise a crash can leave the new name
	// pointing at an empty or partial file on some file systems.
	if err := f.f.Sync(); err != nil {
		return fail("sync", err)
	}
	if err := f.f.Close(); err != nil {
		return fail("close", err)
	}
	// The destination may have been replaced since Create; renaming over
	// a device that appeared meanwhile would destroy it.
	if info, err := os.Lstat(f.target); err == nil && !info.Mode().IsRegular() {
		return fail("rename", &safeopen.NotRegularError{Path: f.target, Mode: info.Mode().Type()})
	}
	if err := rename(f.tmp, f.target); err != nil {
		return fail("rename", err)
	}
	f.done = true
	// Syncing the folder makes the rename durable; best effort, as some
	// systems cannot sync folders and every reader already sees the file.
	if d, err := os.Open(f.dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Abort closes and removes the temporary file, leaving the destination as
// it was. It does nothing after Commit or a first Abort, so it can be
// deferred right after Create.
func (f *File) Abort() {
	if f == nil || f.done {
		return
	}
	f.done = true
	f.f.Close()
	os.Remove(f.tmp)
}

// Write creates or replaces path with what write writes, atomically, as
// Create, File.Write and File.Commit do. Errors of the file system are
// *Error values; an error of write is returned with the path added.
func Write(path string, write func(io.Writer) error) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := write(f); err != nil {
		var fe *Error
		if errors.As(err, &fe) {
			return err
		}
		return fmt.Errorf("writing %s: %w", safeopen.Printable(path), err)
	}
	return f.Commit()
}

// Check is the pre-flight test of an output path, run before any work: the
// folder exists and is writable (probed by creating and removing a temporary
// file, which works as root and on read-only file systems, where permission
// bits mislead), the path is not a directory, and if it exists it is a
// regular file or a symbolic link to one (a dangling link whose target's
// folder exists is fine: writing creates the target). Its error is an *Error
// whose message names the path, the problem and what to do.
func Check(path string) error {
	_, dir, base, err := destination("check", path)
	if err != nil {
		return err
	}
	f, tmp, err := createTemp(dir, base)
	if err != nil {
		return &Error{Op: "check", Path: path, Err: unwrapPath(err), dir: dir}
	}
	f.Close()
	os.Remove(tmp)
	return nil
}

// destination resolves path's symbolic links and checks that what it leads
// to is absent or a regular file. It returns the final path, its folder and
// its name.
func destination(op, path string) (target, dir, base string, err error) {
	if path == "" {
		return "", "", "", &Error{Op: op, Path: path, Err: errors.New("no file name given")}
	}
	target, info, err := resolve(path)
	var ul *UnsafeLinkError
	if errors.As(err, &ul) {
		// Before the kernel's view below, which follows the link.
		return "", "", "", &Error{Op: op, Path: path, Err: err}
	}
	// The kernel's view first: links such as /dev/stdout lead through
	// /proc/self/fd to names like "pipe:[1234]" that are not paths.
	if kinfo, kerr := os.Stat(path); kerr == nil && !kinfo.Mode().IsRegular() {
		shown := path
		if err == nil && info != nil && !info.Mode().IsRegular() {
			shown = target
		}
		return "", "", "", &Error{Op: op, Path: path, Err: &safeopen.NotRegularError{Path: shown, Mode: kinfo.Mode().Type()}}
	}
	if err != nil {
		return "", "", "", &Error{Op: op, Path: path, Err: unwrapPath(err)}
	}
	if info != nil && !info.Mode().IsRegular() {
		return "", "", "", &Error{Op: op, Path: path, Err: &safeopen.NotRegularError{Path: target, Mode: info.Mode().Type()}}
	}
	dir, base = split(target)
	if base == "" || base == "." || base == ".." {
		// "out/" or "..": a folder, whether or not it exists yet.
		return "", "", "", &Error{Op: op, Path: path, Err: &safeopen.NotRegularError{Path: path, Mode: fs.ModeDir}}
	}
	return target, dir, base, nil
}

// resolve follows path's symbolic links to what they finally name, and
// returns that path with its Lstat info, or nil info if it does not exist.
// Links are followed one by one, instead of with filepath.EvalSymlinks,
// because the final link may dangle: writing then creates its target.
func resolve(path string) (string, fs.FileInfo, error) {
	p := path
	for hops := 0; ; hops++ {
		info, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil, nil
		}
		if err != nil {
			return "", nil, err
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			return p, info, nil
		}
		if hops == maxLinks {
			return "", nil, errLinkLoop
		}
		if err := mayFollow(p, info); err != nil {
			return "", nil, err
		}
		dst, err := os.Readlink(p)
		if err != nil {
			return "", nil, err
		}
		if !filepath.IsAbs(dst) {
			// Not filepath.Join, which would also clean "x/.." in dst
			// lexically, while the kernel follows x if it is a link.
			dir, _ := split(p)
			dst = dir + string(filepath.Separator) + dst
		}
		p = dst
	}
}

// split returns the folder and the name of path without cleaning it (see
// resolve).
func split(path string) (dir, base string) {
	vol := len(filepath.VolumeName(path))
	i := len(path) - 1
	for i >= vol && !os.IsPathSeparator(path[i]) {
		i--
	}
	switch {
	case i < vol:
		dir = path[:vol] + "."
	case i == vol:
		dir = path[:vol+1] // the root
	default:
		dir = path[:i]
	}
	return dir, path[i+1:]
}

// tempPrefix is the start of the names of base's temporary files.
func tempPrefix(base string) string {
	if len(base) > maxTempBase {
		base = base[:maxTempBase]
	}
	return "." + base + ".tmp-"
}

// createTemp creates a temporary file for base in dir, named
// .<base>.tmp-<pid>-<random>. It opens the file itself, with mode 0666,
// rather than with os.CreateTemp (0600), so that the kernel applies the
// umask: reading the umask would mean setting it, which is process-wide
// and racy.
func createTemp(dir, base string) (*os.File, string, error) {
	prefix := filepath.Join(dir, tempPrefix(base)+strconv.Itoa(os.Getpid())+"-")
	for range 100 {
		name := fmt.Sprintf("%s%012x", prefix, rand.Uint64()>>16)
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if errors.Is(err, fs.ErrNotExist) {
			if info, serr := os.Stat(dir); serr == nil && info.IsDir() {
				err = cannotCreate{unwrapPath(err)}
			}
		}
		return f, name, err
	}
	return nil, "", &fs.PathError{Op: "create", Path: prefix, Err: fs.ErrExist}
}

// removeStale removes the temporary files of base in dir whose writers are
// gone: those named with the pid of a process that no longer exists, and
// those named as earlier versions did (.<base>.tmp-<digits>, no pid) once
// they are staleAge old. Only regular files matching the patterns exactly
// are touched. It is best effort: a file that cannot be removed stays.
func removeStale(dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	q := regexp.QuoteMeta(tempPrefix(base))
	current := regexp.MustCompile(`^` + q + `([1-9][0-9]{0,9})-[0-9a-f]{12}$`)
	legacy := regexp.MustCompile(`^\.` + regexp.QuoteMeta(base) + `\.tmp-[0-9]+$`)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		name := e.Name()
		stale := false
		if m := current.FindStringSubmatch(name); m != nil {
			pid, err := strconv.Atoi(m[1])
			stale = err == nil && pid != os.Getpid() && gone(pid, e)
		} else if legacy.MatchString(name) {
			stale = olderThan(e, staleAge)
		}
		if stale {
			os.Remove(filepath.Join(dir, name))
		}
	}
}

// olderThan reports whether e was last modified more than age ago.
func olderThan(e fs.DirEntry, age time.Duration) bool {
	info, err := e.Info()
	return err == nil && time.Since(info.ModTime()) > age
}

// unwrapPath drops the *fs.PathError or *os.LinkError wrapper, whose
// message repeats the temporary file's name.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
