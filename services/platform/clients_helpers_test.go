package platform

import (
	"context"
	"net"
)

type contextT = context.Context
type connT = net.Conn

var dialer net.Dialer
