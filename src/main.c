/*
 * dicomaid: the DICOM node daemon. Parses the command line, loads the configuration (or
 * the embedded default), opens the index and the instance store, and runs the SCP and the
 * control socket on the libuv loop in the foreground until SIGTERM/SIGINT. Under systemd it
 * takes its listening sockets from socket activation and reports readiness (ctl/sd.h).
 * See dicomaid(8).
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "config.h"
#include "ctl/ops.h"
#include "ctl/sd.h"
#include "net/server.h"
#include "pipeline/pipeline.h"
#include "services/services.h"
#include "query/query.h"
#include "storage/index.h"
#include "storage/store.h"
#include "util/config.h"
#include "util/log.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dicomaid [-c FILE] [-d]\n"
		"       dicomaid --check-config -c FILE\n"
		"       dicomaid -V\n"
		"  -c, --config FILE   configuration file (default: the embedded default)\n"
		"      --check-config  validate the configuration and exit\n"
		"  -d, --debug         log at debug level\n"
		"  -V, --version       print the version and exit\n"
		"  -h, --help          this help\n");
}

static void close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "debug", no_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	bool check_only = false, debug = false;
	int ch;

	/* Every C-STORE allocates and frees 256 KiB chunks and other per-instance buffers.
	 * With glibc's defaults those go back to the kernel at each free (munmap, heap trim)
	 * and are faulted in again for the next instance: measured ~7 % fewer instances/s at
	 * one association. Blocks under 1 MiB come from the heap, and up to 8 MiB of freed
	 * heap stays for reuse. */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	while ((ch = getopt_long(argc, argv, "c:dVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'C': check_only = true; break;
		case 'd': debug = true; break;
		case 'V': printf("dicomaid %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	struct config cfg;
	char err[512];
	if (config_path) {
		if (config_load(config_path, &cfg, err, sizeof err) < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
	} else {
		if (check_only) {
			fprintf(stderr, "dicomaid: --check-config needs -c FILE\n");
			return 2;
		}
		config_defaults(&cfg);
	}
	/* The TLS files are checked here too, so that --check-config catches them. */
	if (server_tls_load(&cfg, NULL, NULL, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		config_free(&cfg);
		return 1;
	}
	if (check_only) {
		printf("%s: ok\n", config_path);
		config_free(&cfg);
		return 0;
	}
	log_set_level(debug ? LOG_LVL_DEBUG : (enum log_level)cfg.log_level);
	signal(SIGPIPE, SIG_IGN);
	query_set_options(&(struct query_options){ .pn_case_insensitive = cfg.pn_case_insensitive,
						   .retrieve_ae = cfg.ae_title,
						   .storage_root = cfg.storage_path });
	/* libuv's threadpool writes data sets and audit rows; give it room for both. */
	setenv("UV_THREADPOOL_SIZE", "8", 0);

	log_notice("event=start version=%s config=%s storage=%s index=%s fsync=%s", PACKAGE_VERSION,
		   config_path ? config_path : "(embedded default)", cfg.storage_path,
		   cfg.index_database, cfg.storage_fsync ? "yes" : "no");
	if (!cfg.storage_fsync)
		log_warn("event=fsync_disabled note=\"for benchmarking only: acknowledged instances "
			 "can be lost on power failure\"");

	/* Socket activation: the service manager's sockets replace [server] bind/port. */
	struct systemd_fds sfds;
	if (systemd_listen_fds(&sfds, err, sizeof err) < 0) {
		log_err("event=startup_failed err=\"%s\"", err);
		config_free(&cfg);
		return 1;
	}

	if (mkdir(cfg.storage_path, 0750) < 0 && errno != EEXIST) {
		log_err("event=startup_failed path=%s err=\"%s\"", cfg.storage_path, strerror(errno));
		config_free(&cfg);
		return 1;
	}

	struct index *ix = NULL;
	if (index_open(cfg.index_database, false, &ix, err, sizeof err) < 0) {
		log_err("event=startup_failed index=%s err=\"%s\"", cfg.index_database, err);
		config_free(&cfg);
		return 1;
	}

	if (!cfg.storage_fsync)
		index_set_durable(ix, false);

	uv_loop_t *loop = uv_default_loop();
	static struct server srv;
	struct store *store = NULL;
	struct store_config sc = {
		.root = cfg.storage_path,
		.fsync = cfg.storage_fsync,
		.duplicates = cfg.duplicates == CONFIG_DUP_KEEP     ? DUP_KEEP
			      : cfg.duplicates == CONFIG_DUP_REJECT ? DUP_REJECT
								    : DUP_OVERWRITE,
		.notify = server_committer_notify,
		.notify_arg = &srv,
	};
	if (store_open(&sc, ix, &store) < 0) {
		log_err("event=startup_failed storage=%s", cfg.storage_path);
		index_close(ix);
		config_free(&cfg);
		return 1;
	}
	struct ops *ops = NULL;
	if (server_start(&srv, loop, &cfg, config_path, store, ix, sfds.tcp, sfds.n_tcp) < 0 ||
	    ops_start(loop, &srv, cfg.control_socket, sfds.control, &ops) < 0) {
		server_free_tls(&srv);
		store_close(store);
		store_free(store);
		index_close(ix);
		config_free(&cfg);
		return 1;
	}
	pipeline_start(&srv);
	ops_ready(ops);

	uv_run(loop, UV_RUN_DEFAULT);

	/* Every association is gone. Drain the committer (which also wakes any analysis worker
	 * waiting for its result to be committed), stop the workers, then close the index. */
	store_close(store);
	services_store_committed(&srv);
	pipeline_join();
	services_store_committed(&srv);
	store_free(store);
	uv_close((uv_handle_t *)&srv.committed, NULL);
	uv_walk(loop, close_walk, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	server_free_tls(&srv);
	ops_free(ops);
	index_close(ix);
	log_notice("event=stopped instances=%llu", (unsigned long long)srv.instances_stored);
	config_free(&cfg);
	return srv.exit_code;
}
