package webhook

import (
	"testing"

	"github.com/compileo/jobqueue/internal/testmain"
)

func TestMain(m *testing.M) {
	testmain.Run(m)
}
