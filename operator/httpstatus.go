package operator

import (
	"errors"
	"net/http"

	"github.com/jetcron/jetcron/subjects"
)

// HTTPStatus is the HTTP status that answers an error of this package: 404 for what
// does not exist (ErrNotFound), 400 for a malformed argument or name (ErrInvalid,
// subjects.ErrBadName), 503 for the rest (the cluster did not answer). The HTTP API
// and the web UI answer with it.
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, subjects.ErrBadName), errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	default:
		return http.StatusServiceUnavailable
	}
}
