using System.Globalization;
using System.Text.Json;

namespace Federated.Cli.Remote;

/// <summary>Reading the coordinator's views for text output without a copy of its types: absent or null prints as "-".</summary>
static class JsonFields
{
    public static JsonElement? Field(this JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public static string Text(this JsonElement e, string name) => e.Field(name) is { } v ? Format(v) : "-";

    public static int Int(this JsonElement e, string name) => e.Field(name) is { ValueKind: JsonValueKind.Number } v ? v.GetInt32() : 0;

    public static IEnumerable<JsonElement> Items(this JsonElement e, string name) =>
        e.Field(name) is { ValueKind: JsonValueKind.Array } v ? v.EnumerateArray() : [];

    /// <summary>"sha256:0123456789ab (12,345 bytes)" for a stored adapter reference, "-" for none.</summary>
    public static string Stored(this JsonElement e, string name) => e.Field(name) is { } v
        ? $"sha256:{v.Text("sha256")[..Math.Min(12, v.Text("sha256").Length)]} ({v.Field("size")?.GetInt64() ?? 0:N0} bytes)"
        : "-";

    static string Format(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => v.GetString()!,
        JsonValueKind.Number => v.TryGetInt64(out long n) ? n.ToString(CultureInfo.InvariantCulture) : v.GetDouble().ToString("G4", CultureInfo.InvariantCulture),
        JsonValueKind.True => "yes",
        JsonValueKind.False => "no",
        JsonValueKind.Array => string.Join(", ", v.EnumerateArray().Select(Format)),
        _ => v.GetRawText(),
    };
}
