// Package imagetest holds the tests of the container image in deploy/docker without
// a Docker engine: it parses the Dockerfile with BuildKit's own parser and checks
// that the final stage is shell-less, non-root by number and read-only compatible,
// with OCI labels; it makes the build context with `make image-context` twice and
// compares the bytes; and it builds the binary from that context with exactly the
// Dockerfile's build line, then shows it is static (ldd), carries none of the test
// tooling, and starts as uid 65532 on a read-only root file system. It has no
// non-test code.
package imagetest
