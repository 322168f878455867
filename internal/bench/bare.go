package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// bareAnswer is what the bare handler answers: the size and shape of tocsin's 202.
var bareAnswer = []byte(`{"alertKey":"bench","alertUrl":"http://127.0.0.1/api/alerts/1","responseCode":"NEW_ALERT_CREATED"}` + "\n")

// Bare is a net/http server that reads each body and answers 202 with a small JSON body: the
// most an Events API could do on this machine with net/http and no work per event.
type Bare struct {
	URL  string // the endpoint to post to
	http *http.Server
	done chan error
}

// StartBare starts a Bare server on a free loopback port.
func StartBare() (*Bare, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: listen: %w", err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		w.Write(bareAnswer)
	})
	b := &Bare{
		URL:  "http://" + ln.Addr().String() + "/api/events",
		http: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute},
		done: make(chan error, 1),
	}
	go func() { b.done <- b.http.Serve(ln) }()
	return b, nil
}

// Close stops the server.
func (b *Bare) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := b.http.Shutdown(ctx)
	if serr := <-b.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
