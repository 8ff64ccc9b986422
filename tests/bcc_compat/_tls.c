/* Two TLS endpoints in one process over memory BIOs (TLS 1.2 with anonymous ECDH: no
 * certificate to make), for the sslsniff-style test: the client sends argv[1] with SSL_write
 * argv[2] times and the server reads each with SSL_read, so libssl's SSL_write and SSL_read
 * run in this process with known data. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void pump(BIO *from, BIO *to)
{
	char buf[16384];
	int n;
	while ((n = BIO_read(from, buf, sizeof buf)) > 0)
		BIO_write(to, buf, n);
}

static SSL *endpoint(const SSL_METHOD *method, BIO **in, BIO **out)
{
	SSL_CTX *ctx = SSL_CTX_new(method);
	SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_cipher_list(ctx, "aNULL:@SECLEVEL=0");
	SSL *ssl = SSL_new(ctx);
	*in = BIO_new(BIO_s_mem());
	*out = BIO_new(BIO_s_mem());
	SSL_set_bio(ssl, *in, *out);
	return ssl;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 1;
	BIO *c_in, *c_out, *s_in, *s_out;
	SSL *client = endpoint(TLS_client_method(), &c_in, &c_out);
	SSL *server = endpoint(TLS_server_method(), &s_in, &s_out);
	SSL_set_connect_state(client);
	SSL_set_accept_state(server);
	for (int i = 0; i < 20 && !(SSL_is_init_finished(client) && SSL_is_init_finished(server)); i++) {
		SSL_do_handshake(client);
		pump(c_out, s_in);
		SSL_do_handshake(server);
		pump(s_out, c_in);
	}
	if (!SSL_is_init_finished(client) || !SSL_is_init_finished(server)) {
		ERR_print_errors_fp(stderr);
		return 2;
	}
	int len = strlen(argv[1]);
	char got[4096];
	for (int i = 0; i < atoi(argv[2]); i++) {
		if (SSL_write(client, argv[1], len) != len)
			return 3;
		pump(c_out, s_in);
		if (SSL_read(server, got, sizeof got) != len || memcmp(got, argv[1], len))
			return 4;
	}
	return 0;
}
