// Package fetch gets a data set's published files and decides whether bytes
// are the official ones: it downloads them from http, https and file
// mirrors or a system package's copy, with retries, a low-speed rule and a
// redirect policy (Download); turns --mirror values into URLs and keeps
// their credentials out of messages (MirrorURL, RedactURL); hashes content
// so that a re-compressed copy of an official file is recognised
// (ContentSHA256); checks a loaded split against the official sums
// (CheckSplit); and names a known data set from a split's fingerprint
// (Identify).
//
// It is apart from package dataset, which holds the data in memory, because
// it is the only part of the data handling that touches the network and the
// only one that judges provenance: dataset reads whatever files it is given.
// The dependency goes one way, fetch → dataset.
package fetch
