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
	ids := make([]uint64, 0, len(events))
	for id := range events {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	docs := make([]eventJSON, 0, len(ids))
	var text strings.Builder
	for _, id := range ids {
		ev := events[id]
		docs = append(docs, newEventJSON(id, &ev))
		text.WriteString(eventText(id, &ev) + "\n")
	}
	if len(ids) == 0 {
		text.WriteString("no recorded exits\n")
	}
	return o.emit(docs, strings.TrimSuffix(text.String(), "\n"))
}
