package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

func TestMigrate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		if store.IsPostgres(dsn) {
			// Replicas starting together on an empty database migrate one at a time.
			migrateConcurrently(t, dsn)
		}
		db := storetest.MustOpen(t, dsn)
		if err := db.Ready(ctx); err != nil {
			t.Fatalf("Ready after Migrate: %v", err)
		}
		// Running the migrations again is a no-op.
		migrateConcurrently(t, dsn)
	})
}

func migrateConcurrently(t *testing.T, dsn string) {
	t.Helper()
	ctx := context.Background()
	{
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				other, err := store.Open(ctx, dsn)
				if err != nil {
					errs <- err
					return
				}
				defer other.Close()
				errs <- other.Migrate(ctx)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent Migrate: %v", err)
			}
		}
	}
}

func TestReadyBeforeMigrate(t *testing.T) {
	db, err := store.Open(context.Background(), storetest.SQLiteDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ready(context.Background()); err == nil {
		t.Fatal("Ready succeeded before migrations ran")
	}
}
