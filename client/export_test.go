package client

// AccessDenied exposes accessDenied: tests run as root, whom no socket refuses, so the
// message is tested from a made-up EACCES and the mode of a real file.
var AccessDenied = accessDenied
