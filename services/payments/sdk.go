package payments

import (
	"context"
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"

	sdk3 "github.com/sandbox-labs/sandbox/services/payments/paymentsdk/v3"
	sdk4 "github.com/sandbox-labs/sandbox/services/payments/paymentsdk/v4"
)

// Payment methods (paths through the payments service).
const (
	MethodCard      = "card"
	MethodSavedCard = "saved_card"
	MethodWallet    = "wallet"
)

// StoredCredentialPath is the payment path that charges a stored credential through chargeStoredCredential,
// the one path PR #901 left wired to the payment-sdk 3.x Charge shape. The card's default (seed 0) is
// saved_card; other seeds pick saved_card or wallet, so a trainee cannot memorise it.
func StoredCredentialPath(seed int64) string {
	if seed == 0 || seed%2 == 0 {
		return MethodSavedCard
	}
	return MethodWallet
}

// receipt is the SDK-neutral result of a charge.
type receipt struct {
	ID         string
	Status     string
	SDKVersion string
}

// NoSuchMethodError is Go's honest equivalent of Java's NoSuchMethodError: code compiled against one shape of
// a method met an SDK that has another. Go catches it at the interface conversion, at run time.
type NoSuchMethodError struct {
	Type    string // concrete type, e.g. *paymentsdk.Client
	Package string // its import path
	Method  string
	Want    string // the signature the caller expects (3.x shape)
	Have    string // the signature the SDK has (reflected from the concrete type)
	Cause   string // the runtime's own message
	Stack   string // where the conversion failed
}

func (e *NoSuchMethodError) Error() string {
	return fmt.Sprintf("no such method: %s.%s; caller expects %s (payment-sdk 3.x), %s has %s: %s",
		e.Type, e.Method, e.Want, e.Package, e.Have, e.Cause)
}

// chargerV3 is the payment-sdk 3.x shape of Charge.
type chargerV3 interface {
	Charge(sdk4.Amount) (sdk4.Receipt, error)
}

// chargeStoredCredential charges a stored credential (saved card or wallet token). It still holds the SDK
// client as the 3.x charger it was written against; after the 4.0 upgrade the conversion fails at run time.
func chargeStoredCredential(client any, amount sdk4.Amount) (r sdk4.Receipt, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = noSuchMethod(client, reflect.TypeFor[chargerV3](), "Charge", p)
		}
	}()
	return client.(chargerV3).Charge(amount)
}

// noSuchMethod describes a failed method-shape conversion, using reflection on the concrete type for the
// signature it really has.
func noSuchMethod(client any, want reflect.Type, method string, cause any) *NoSuchMethodError {
	t := reflect.TypeOf(client)
	e := &NoSuchMethodError{Type: t.String(), Method: method, Cause: fmt.Sprint(cause), Stack: string(debug.Stack())}
	e.Package = t.PkgPath()
	if t.Kind() == reflect.Pointer {
		e.Package = t.Elem().PkgPath()
	}
	if m, ok := want.MethodByName(method); ok {
		e.Want = signature(method, m.Type, false)
	}
	if m, ok := t.MethodByName(method); ok {
		e.Have = signature(method, m.Type, true)
	} else {
		e.Have = "no method " + method
	}
	return e
}

// signature renders a method type as Name(args) (results); hasRecv drops the receiver of a concrete method.
func signature(name string, ft reflect.Type, hasRecv bool) string {
	var in, out []string
	for i := 0; i < ft.NumIn(); i++ {
		if hasRecv && i == 0 {
			continue
		}
		in = append(in, ft.In(i).String())
	}
	for i := 0; i < ft.NumOut(); i++ {
		out = append(out, ft.Out(i).String())
	}
	s := name + "(" + strings.Join(in, ", ") + ")"
	switch len(out) {
	case 0:
	case 1:
		s += " " + out[0]
	default:
		s += " (" + strings.Join(out, ", ") + ")"
	}
	return s
}

// callProvider charges through the SDK version this release is built against.
func (s *Service) callProvider(ctx context.Context, path string, req ChargeRequest) (receipt, error) {
	if s.sdkVersion == sdk3.Version {
		r, err := s.v3.WithContext(ctx).Charge(sdk3.Amount{Cents: req.AmountCents, Currency: req.Currency})
		return receipt{ID: r.ID, Status: r.Status, SDKVersion: sdk3.Version}, err
	}
	client := s.v4.WithContext(ctx)
	amount := sdk4.Amount{Cents: req.AmountCents, Currency: req.Currency}
	opts := sdk4.ChargeOptions{IdempotencyKey: req.IdempotencyKey, PaymentMethod: path, Capture: true,
		Metadata: map[string]string{"order_id": fmt.Sprint(req.OrderID)}}
	var (
		r   sdk4.Receipt
		err error
	)
	// PR #901 (fault sdk-break): one stored-credential path was not moved to the 4.0 signature.
	if path == s.storedPath && s.legacyShape {
		r, err = chargeStoredCredential(client, amount)
	} else {
		r, err = client.Charge(amount, opts)
	}
	return receipt{ID: r.ID, Status: r.Status, SDKVersion: sdk4.Version}, err
}
