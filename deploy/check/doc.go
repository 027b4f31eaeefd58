// Package check validates everything in deploy/ offline, with the libraries
// the real tools use. It is a module of its own so that Corb's module never
// depends on kustomize, client-go, compose-go or buildkit.
package check
