package main

import (
	"testing"
)

func TestControllerFlags(t *testing.T) {
	const good = "a-secret-of-enough-length"
	refuses(t, []badConfig{
		{[]string{"--controller", "zendesk"}, nil, "--controller must be builtin or webhook"},
		{nil, map[string]string{"VIGIL_CONTROLLER": "zendesk"}, "--controller must be builtin or webhook"},
		{[]string{"--controller", "webhook"}, nil, "--webhook-url is required"},
		{[]string{"--controller", "webhook", "--webhook-url", "http://platform.example.com/hook", "--webhook-secret", good}, nil, "must use https"},
		{[]string{"--controller", "webhook", "--webhook-url", "https://platform.example.com/hook"}, nil, "--webhook-secret is required"},
		{[]string{"--controller", "webhook", "--webhook-url", "https://platform.example.com/hook", "--webhook-secret", "short"}, nil, "at least 16"},
		{[]string{"--controller", "webhook", "--webhook-url", "https://p.example.com/h", "--webhook-secret-next", good}, nil, "--webhook-secret is required"},
		{nil, map[string]string{"VIGIL_CONTROLLER": "webhook", "VIGIL_WEBHOOK_URL": "https://p.example.com/h", "VIGIL_WEBHOOK_SECRET": good,
			"VIGIL_WEBHOOK_SECRET_NEXT": "tiny"}, "--webhook-secret-next must be at least 16"},
		{[]string{"--webhook-url", "https://p.example.com/h"}, nil, "only with --controller webhook"},
		{nil, map[string]string{"VIGIL_WEBHOOK_SECRET": good}, "only with --controller webhook"},
	}, "--data-dir", t.TempDir())
}
