package verify

import (
	"context"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

// Plan plans a restore from the catalog as Aptos's restore coordinator
// would ([aptos.View.PlanRestore]), naming the moved files that would cover
// a hole. It returns the plan and the generation it read; a plan that Aptos
// would refuse is an *aptos.PlanError.
func Plan(ctx context.Context, db catalog.DB, opts aptos.RestoreOptions) (plan *aptos.RestorePlan, generation uint64, err error) {
	err = db.View(ctx, func(tx catalog.Tx) error {
		generation = tx.Generation()
		v, err := tx.View()
		if err != nil {
			return err
		}
		moved, err := Entries(tx, catalog.Moved)
		if err != nil {
			return err
		}
		plan, err = v.PlanRestore(opts, moved)
		return err
	})
	return plan, generation, err
}
