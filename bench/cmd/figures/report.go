package main

func reportCmd(args []string) error { return nil }
