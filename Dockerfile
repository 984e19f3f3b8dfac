# The soloist binary on a small Debian base (crontab commands need /bin/sh).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/soloist-dev/soloist/internal/cli.Version=${VERSION}" \
      -o /out/soloist ./cmd/soloist

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/soloist /usr/local/bin/soloist
USER nobody
ENTRYPOINT ["soloist"]
CMD ["--help"]
