# syntax=docker/dockerfile:1
# Build: a static binary, no cgo.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/tipgate/tipgate/internal/app.Version=${VERSION}" \
      -o /out/tipgate ./cmd/tipgate && \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/tipsim ./cmd/tipsim

# Run: distroless static, non-root, nothing but the binaries and CA roots.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tipgate /usr/local/bin/tipgate
COPY --from=build /out/tipsim /usr/local/bin/tipsim
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tipgate"]
CMD ["serve"]
