package coordinator

import (
	"context"
	"errors"

	"github.com/vigil-cc/vigil/coordinator/controller"
	"github.com/vigil-cc/vigil/coordinator/controller/builtin"
	"github.com/vigil-cc/vigil/coordinator/controller/webhook"
	"github.com/vigil-cc/vigil/coordinator/core"
	"github.com/vigil-cc/vigil/coordinator/metrics"
	"github.com/vigil-cc/vigil/coordinator/setting"
	"github.com/vigil-cc/vigil/coordinator/store"
)

// validateController checks the controller's part of the configuration.
func (c *Config) validateController() error {
	kind, err := controller.ParseKind(c.Controller)
	if err != nil {
		return err
	}
	if kind == controller.Builtin {
		if c.WebhookURL != "" || c.WebhookSecret != "" || c.WebhookSecretNext != "" {
			return setting.Errorf("{WebhookURL}, {WebhookSecret} and {WebhookSecretNext} apply only with {Controller} webhook")
		}
		return nil
	}
	wc := c.webhookConfig()
	if err := wc.Validate(); err != nil {
		var se *setting.Error
		if errors.As(err, &se) {
			return se.Renamed(func(s string) string { return "Webhook" + s }) // URL → WebhookURL
		}
		return err
	}
	return nil
}

func (c *Config) webhookConfig() webhook.Config {
	wc := webhook.Config{URL: c.WebhookURL, Now: c.Now, Log: c.Log}
	for _, s := range []string{c.WebhookSecret, c.WebhookSecretNext} {
		if s != "" {
			wc.Secrets = append(wc.Secrets, s)
		}
	}
	if c.WebhookSecret == "" && c.WebhookSecretNext != "" {
		wc.Secrets = nil // WebhookSecretNext alone is not a configuration
	}
	return wc
}

// openController makes the controller the configuration names, and the
// metrics, which export its outbox backlog and count its reroutes: each is
// made once what it reads exists.
func openController(ctx context.Context, cfg Config, st *store.Store, c *core.Core, src metrics.Sources) (controller.Controller, *metrics.Metrics, error) {
	kind, err := controller.ParseKind(cfg.Controller)
	if err != nil {
		return nil, nil, err
	}
	if kind == controller.Webhook {
		w, err := webhook.New(st, cfg.webhookConfig())
		if err != nil {
			return nil, nil, err
		}
		src.OutboxBacklog = w.Pending
		return w, metrics.New(src, cfg.Now), nil
	}
	src.OutboxBacklog = func() (int, error) { return 0, nil } // nothing goes out
	m := metrics.New(src, cfg.Now)
	b, err := builtin.New(ctx, st, c, builtin.Config{Log: cfg.Log, Rerouted: func(n int) { m.Reroutes.Add(float64(n)) }})
	if err != nil {
		return nil, nil, err
	}
	return b, m, nil
}

// deskOf is the built-in controller, if that is the one in use.
func deskOf(ctl controller.Controller) *builtin.Controller {
	b, _ := ctl.(*builtin.Controller)
	return b
}

// webhookOf is the webhook deliverer, if the webhook controller is in use.
func webhookOf(ctl controller.Controller) *webhook.Deliverer {
	if w, ok := ctl.(*webhook.Controller); ok {
		return w.Deliverer
	}
	return nil
}
