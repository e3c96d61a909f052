using System.Text.Json;
using Federated.Contracts;
using Federated.Storage;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace Federated.Coordinator.Admin;

/// <summary>
/// Turns refusals into RFC 7807 problem details whose <c>detail</c> is the refusal's own message: the grains'
/// <see cref="FederationException"/>s, unreadable requests and missing payloads. Anything else stays a 500.
/// </summary>
sealed partial class AdminProblems(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (StatusOf(exception) is not { } status)
            return false;
        context.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = new ProblemDetails { Status = status, Detail = DetailOf(exception) },
        });
    }

    internal static int? StatusOf(Exception e) => e switch
    {
        FederationException { Error: FederationError.NotFound } => StatusCodes.Status404NotFound,
        FederationException { Error: FederationError.AlreadyExists } => StatusCodes.Status409Conflict,
        FederationException { Error: FederationError.InvalidArgument } => StatusCodes.Status400BadRequest,
        FederationException { Error: FederationError.FailedPrecondition } => StatusCodes.Status409Conflict,
        FederationException => StatusCodes.Status400BadRequest,
        BadHttpRequestException bad => bad.StatusCode,
        ContentNotFoundException => StatusCodes.Status404NotFound,
        _ => null,
    };

    // For a body that is not valid JSON, or JSON of the wrong shape, the serializer's message says where (path, line, byte).
    static string DetailOf(Exception e) => e switch
    {
        BadHttpRequestException { InnerException: JsonException json } => $"malformed JSON: {Readable(json)}",
        _ => e.Message,
    };

    // The serializer names the .NET type that lacks the member; an operator needs the field and where it was.
    static string Readable(JsonException json) => UnknownField().Match(json.Message) is { Success: true } m
        ? $"unknown field '{m.Groups[1].Value}'{(json.Path is { } path ? $" at {path}" : "")}"
        : json.Message;

    [System.Text.RegularExpressions.GeneratedRegex(@"^The JSON property '(.+?)' could not be mapped to any \.NET member")]
    private static partial System.Text.RegularExpressions.Regex UnknownField();
}
