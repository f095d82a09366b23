package main

import (
	"testing"

	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func TestMain(m *testing.M) { queuetest.Main(m) }
