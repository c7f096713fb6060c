// Command ceiling is a measurement tool, not part of the gateway: the
// fastest a Go net/http server answers on this machine. It serves one body,
// read once from a file, to every request, with no routing, no
// authentication and no cache. `make load` (bench/load.sh) runs it beside
// tipgate with the exact body of a tipgate hit, so that the ratio of the
// two is the cost of tipgate's own work per request. It does what the
// shared peer harness's static server does, so the ratios of both compare.
//
//	ceiling -addr 127.0.0.1:18181 -body hit.json
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"strconv"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18181", "listen address (keep it on loopback)")
	bodyFile := flag.String("body", "", "file holding the response body, read once at start")
	contentType := flag.String("content-type", "application/json", "Content-Type of the answers")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		log.Fatal(err)
	}
	// Header values built once: the point is to measure net/http alone.
	ctype := []string{*contentType}
	clen := []string{strconv.Itoa(len(body))}
	log.Printf("ceiling: listening on http://%s, %d-byte body", *addr, len(body))
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = ctype
		h["Content-Length"] = clen
		_, _ = w.Write(body)
	})))
}
