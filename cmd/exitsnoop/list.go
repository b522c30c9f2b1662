package main

import (
	"sort"
	"strings"

	"exitsnoop.dev/exitsnoop"
)

func init() {
	register(&command{
		name:    "list",
		summary: "Print every recorded exit (one JSON document with --json).",
		run:     func(o *options, _ []string) error { return listCmd(o, false) },
	})
	register(&command{
		name:    "drain",
		summary: "Print and delete every recorded exit.",
		run:     func(o *options, _ []string) error { return listCmd(o, true) },
	})
}

func listCmd(o *options, drain bool) error {
	s, err := exitsnoop.NewStore(o.root)
	if err != nil {
		return err
	}
	defer s.Close()
	get := s.ListExitedEvents
	if drain {
		get = s.DrainExitedEvents
	}
	events, err := get()
	if err != nil {
		return err
	}
	sort.Slice(events, func(i, j int) bool { return events[i].TraceID < events[j].TraceID })
	docs := make([]eventJSON, 0, len(events))
	var text strings.Builder
	for i := range events {
		ev := &events[i]
		docs = append(docs, newEventJSON(ev.TraceID, &ev.ExitStatus))
		text.WriteString(eventText(ev.TraceID, &ev.ExitStatus) + "\n")
	}
	if len(events) == 0 {
		text.WriteString("no recorded exits\n")
	}
	return o.emit(docs, strings.TrimSuffix(text.String(), "\n"))
}
