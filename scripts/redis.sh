#!/usr/bin/env bash
# Starts/stops the throwaway Redis the tests use. (Filled in by the Redis store work.)
exit 0
