using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Federated.Cli.Remote;

/// <summary>A request the coordinator refused, or a coordinator that could not be reached; the message is the line to print.</summary>
public sealed class CoordinatorException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The coordinator's admin API (<c>/api</c>) as JSON in, JSON out. Refusals arrive as RFC 7807 problem details;
/// their <c>detail</c> becomes the <see cref="CoordinatorException"/> message. With <paramref name="apiKey"/> (an API key or a
/// JWT), every request carries it as <c>Authorization: Bearer</c>; 401 and 403 become "not authenticated: ..." and "not allowed: ...".
/// </summary>
sealed class CoordinatorClient(Uri baseAddress, string? apiKey = null) : IDisposable
{
    readonly HttpClient _http = CreateHttp(baseAddress, apiKey);

    static HttpClient CreateHttp(Uri baseAddress, string? apiKey)
    {
        var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(5) };
        if (apiKey is not null)
        {
            if (!AuthenticationHeaderValue.TryParse($"Bearer {apiKey}", out var header) || apiKey.Any(char.IsWhiteSpace))
                throw new ArgumentException("--api-key / FED_API_KEY is not a valid key (it has spaces or control characters)");
            http.DefaultRequestHeaders.Authorization = header;
        }
        return http;
    }

    public Uri BaseAddress => baseAddress;

    public async Task<JsonElement> GetAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, path), cancellationToken);
        return await ReadJsonAsync(response, cancellationToken);
    }

    public async Task<JsonElement> PostAsync(string path, JsonNode? body, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = body is null ? null : JsonContent.Create(body) };
        using var response = await SendAsync(request, cancellationToken);
        return await ReadJsonAsync(response, cancellationToken);
    }

    public async Task<JsonElement> DeleteAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Delete, path), cancellationToken);
        return await ReadJsonAsync(response, cancellationToken);
    }

    /// <summary>A successful response whose body the caller reads (and disposes).</summary>
    public Task<HttpResponseMessage> DownloadAsync(string path, CancellationToken cancellationToken) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Get, path), cancellationToken, HttpCompletionOption.ResponseHeadersRead);

    async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken,
        HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, completion, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new CoordinatorException($"cannot reach the coordinator at {baseAddress}: {e.Message} (is it running? set --coordinator or FED_COORDINATOR)", e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CoordinatorException($"the coordinator at {baseAddress} did not answer within {_http.Timeout.TotalSeconds:0} s", e);
        }
        using (request)
        {
            if (response.IsSuccessStatusCode)
                return response;
            using (response)
            {
                string problem = await ProblemOf(response, cancellationToken);
                throw new CoordinatorException(response.StatusCode switch
                {
                    System.Net.HttpStatusCode.Unauthorized => $"not authenticated: {problem}",
                    System.Net.HttpStatusCode.Forbidden => $"not allowed: {problem}",
                    _ => problem,
                });
            }
        }
    }

    static async Task<string> ProblemOf(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        string body = await response.Content.ReadAsStringAsync(cancellationToken);
        string status = $"{(int)response.StatusCode} {response.ReasonPhrase}";
        try
        {
            using var problem = JsonDocument.Parse(body);
            if (problem.RootElement.ValueKind == JsonValueKind.Object)
            {
                if (problem.RootElement.TryGetProperty("detail", out var detail) && detail.GetString() is { Length: > 0 } d)
                    return d;
                if (problem.RootElement.TryGetProperty("title", out var title) && title.GetString() is { Length: > 0 } t)
                    return $"{t} ({status})";
            }
        }
        catch (JsonException)
        {
            // Not problem details (a proxy's page, say): fall through to the status line.
        }
        return $"the coordinator answered {status}";
    }

    static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            return await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
        }
        catch (JsonException e)
        {
            throw new CoordinatorException($"the coordinator at {response.RequestMessage?.RequestUri} answered with malformed JSON: {e.Message}", e);
        }
    }

    public void Dispose() => _http.Dispose();
}
