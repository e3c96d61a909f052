using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Federated.Coordinator.Admin;

/// <summary>The admin API's JSON: camelCase (web defaults), enums as strings, durations as "00:30:00" or "30m", strict input.</summary>
public static class AdminJson
{
    public static void Configure(JsonSerializerOptions options)
    {
        options.Converters.Add(new JsonStringEnumConverter());
        options.Converters.Add(new DurationConverter());
        // A diverged client's reported loss is NaN: written as "NaN" rather than failing the whole response.
        options.NumberHandling |= JsonNumberHandling.AllowNamedFloatingPointLiterals;
        // A misspelt field ("qourum") or a null where a value is needed is an error, not a silent default.
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        options.RespectNullableAnnotations = true;
        options.RespectRequiredConstructorParameters = true;
    }

    /// <summary>Reads TimeSpan's own format ("00:30:00", "1.00:00:00") or a number with a unit (ms, s, m, h, d); writes the former.</summary>
    sealed class DurationConverter : JsonConverter<TimeSpan>
    {
        public override TimeSpan Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            string text = reader.GetString() ?? "";
            return TryParse(text, out var value) ? value
                : throw new JsonException($"'{text}' is not a duration (expected e.g. \"30m\", \"90s\", \"2h\" or \"00:30:00\")");
        }

        public override void Write(Utf8JsonWriter writer, TimeSpan value, JsonSerializerOptions options) =>
            writer.WriteStringValue(value.ToString("c", CultureInfo.InvariantCulture));

        static bool TryParse(string text, out TimeSpan value)
        {
            if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value))
                return true;
            (string number, double unit) = text switch
            {
                _ when text.EndsWith("ms", StringComparison.Ordinal) => (text[..^2], 1e-3),
                _ when text.EndsWith('s') => (text[..^1], 1),
                _ when text.EndsWith('m') => (text[..^1], 60),
                _ when text.EndsWith('h') => (text[..^1], 3600),
                _ when text.EndsWith('d') => (text[..^1], 86400),
                _ => ("", 0),
            };
            if (unit == 0 || !double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double n) || !double.IsFinite(n) || n * unit > TimeSpan.MaxValue.TotalSeconds)
                return false;
            value = TimeSpan.FromSeconds(n * unit);
            return true;
        }
    }
}
