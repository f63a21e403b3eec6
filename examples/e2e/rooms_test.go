package e2e

import (
	"testing"
)

// TestTwoRooms runs two calls of two people each on one server at once: each person sees and
// hears only the other member of their own room.
func TestTwoRooms(t *testing.T) {
	chromiumPath(t) // skips (fails in CI) before anything starts, without a browser
	srv := localServer(t)
	red, blue := roomName("red"), roomName("blue")
	members := joinAll(t,
		browserSpec{name: "ann", url: srv.URL(red, "ann")},
		browserSpec{name: "ben", url: srv.URL(red, "ben")},
		browserSpec{name: "cat", url: srv.URL(blue, "cat")},
		browserSpec{name: "dan", url: srv.URL(blue, "dan")},
	)
	rooms := [][]*member{members[:2], members[2:]}
	for _, room := range rooms {
		waitAllInCall(t, room)
	}
	// Four browsers each encoding a 1280x720 camera in simulcast and decoding the others are
	// more than two cores can do beside the other packages' tests; this test is about who
	// receives what, so a quarter of the pixels will do.
	for _, m := range members {
		if err := m.scaleDown(2); err != nil {
			t.Fatal(err)
		}
	}

	// Every page plays exactly one video and one audio stream, its room-mate's: playing fails
	// on a stream of anyone else, whoever's tile shows it, and inCall on a tile of anyone else.
	checkPlayingIn(t, rooms...)
	for i, m := range members {
		mate := rooms[i/2][1-i%2]
		s, err := m.snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if err := inCall(m.name, s, m.name, map[string]string{mate.id: mate.name}); err != nil {
			t.Error(err)
		}
		// Nor has anything else ever come in, even without a tile to show it.
		total := 0
		for _, in := range s.Inbound {
			if in.PacketsReceived > 0 {
				total++
			}
		}
		if total != 2 {
			t.Errorf("%s has received packets on %d streams, want 2 (its room-mate's audio and video)", m.name, total)
		}
	}
}
