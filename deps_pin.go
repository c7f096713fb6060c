// Temporary: pins the chosen modules in go.mod while packages are written in
// parallel. Removed once every module is imported for real.
package tipgate

import (
	_ "github.com/getkin/kin-openapi/openapi3"
	_ "github.com/go-chi/chi/v5"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/redis/go-redis/v9"
	_ "golang.org/x/net/idna"
	_ "golang.org/x/sync/singleflight"
	_ "golang.org/x/time/rate"
	_ "software.sslmate.com/src/go-pkcs12"
)
