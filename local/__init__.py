"""The whole service on one machine, with no AWS account and no Docker: a small emulator in three parts.

    aws/       the AWS side: moto's server in a child process, the template read through the SAM
               translator (intrinsics resolved), and its resources created in moto
    runtime/   the functions' side: handlers loaded from their CodeUri as a cold start would,
               pollers that play Lambda's event source mappings, API Gateway's HTTP API in
               front of them (in-process and on a real port)
    demo/      `make demo`: files disputes through every route and prints what became of them
    serve/     `make serve`: the same stack for a developer, until Ctrl-C

`stack.LocalStack` puts the two sides together; `providers` points the functions at provider
sandboxes (or real providers) instead of the providers' hosts.
"""
