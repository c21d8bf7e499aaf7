package service_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/secret"
	"github.com/labspace/labspace/service"
	"github.com/labspace/labspace/store/sqlstore"
)

func newService(t *testing.T) *service.Service {
	t.Helper()
	db, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	box, _ := secret.NewBox(make([]byte, secret.KeySize))
	return service.New(service.Options{Store: db, Box: box, BcryptCost: 4})
}

// Methods that run before anyone is signed in (a tool's host signs in
// with a ticket, then its cookie).
var public = map[string]bool{"Login": true, "LoginApplication": true, "Authenticate": true, "EnsureAdmin": true,
	"RedeemTicket": true, "AuthenticateTool": true, "Healthy": true,
	"SignInExternal": true, "EnsureSSOAdminGroups": true, "RedeemCLICode": true} // sign-ins and start-up

// Every other method refuses a context without an actor, before it looks
// at its arguments: authorization cannot be forgotten in a new method.
func TestEveryMethodRequiresAnActor(t *testing.T) {
	svc := reflect.ValueOf(newService(t))
	ctxType := reflect.TypeOf((*context.Context)(nil)).Elem()
	errType := reflect.TypeOf((*error)(nil)).Elem()
	checked := 0
	for i := 0; i < svc.NumMethod(); i++ {
		m, name := svc.Method(i), svc.Type().Method(i).Name
		mt := m.Type()
		if public[name] || mt.NumIn() == 0 || mt.In(0) != ctxType {
			continue
		}
		args := []reflect.Value{reflect.ValueOf(context.Background())}
		for j := 1; j < mt.NumIn(); j++ {
			args = append(args, reflect.Zero(mt.In(j)))
		}
		var out []reflect.Value
		if mt.IsVariadic() {
			out = m.CallSlice(args)
		} else {
			out = m.Call(args)
		}
		last := out[len(out)-1]
		if last.Type() != errType || last.IsNil() {
			t.Errorf("%s without an actor: no error", name)
			continue
		}
		if code := labspace.ErrorCode(last.Interface().(error)); code != labspace.EUNAUTHORIZED {
			t.Errorf("%s without an actor: %s, want %s", name, code, labspace.EUNAUTHORIZED)
		}
		checked++
	}
	if checked < 15 {
		t.Errorf("only %d methods checked: did the reflection miss some?", checked)
	}
}
