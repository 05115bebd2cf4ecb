// Package installer builds Vigil's packages: the agent and coordinator as
// .deb and .rpm (nfpm as a library), the Windows agent as an MSI (wixl),
// and signs the Windows exe and MSI (osslsigncode) and, given a GPG key,
// the .deb and .rpm. Everything packaging needs is in this directory:
// linux/ (systemd units, the coordinator's SysV init script and settings
// file, the maintainer scripts), windows/ (the WiX source). `make packages`
// runs cmd/vigil-packages, which builds the binaries and calls this
// package; the tests install what it builds for real (dpkg, rpm, msiexec
// under Wine). See docs/deploy.md.
package installer
