// Package archtest holds the architecture rules as tests: which packages may not
// import which, and that every package documents itself. It has no code of its own.
package archtest
