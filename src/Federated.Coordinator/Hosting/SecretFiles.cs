namespace Federated.Coordinator.Hosting;

/// <summary>
/// Settings read from files, one per key (ASP.NET's key-per-file provider; <c>__</c> separates sections in a file name,
/// e.g. <c>Coordinator__EnrollmentTokens__demo__0</c>): secrets such as enrollment tokens come from a mounted Kubernetes
/// Secret instead of the command line or the environment, where process listings and crash reports show them.
/// </summary>
public static class SecretFiles
{
    /// <summary>The directory to read (<c>Coordinator:SecretsDirectory</c>, e.g. <c>Coordinator__SecretsDirectory=/etc/federated/secrets</c>).</summary>
    public const string DirectoryKey = "Coordinator:SecretsDirectory";

    public static WebApplicationBuilder AddSecretFiles(this WebApplicationBuilder builder)
    {
        if (builder.Configuration[DirectoryKey] is not { Length: > 0 } directory) return builder;
        if (!Directory.Exists(directory))
            throw new InvalidCoordinatorConfigurationException($"{DirectoryKey}: '{directory}' does not exist (a directory with one file per setting)");
        // Kubernetes mounts a Secret as symlinks into a "..data" directory: the provider reads the files, skips directories.
        builder.Configuration.AddKeyPerFile(Path.GetFullPath(directory), optional: false, reloadOnChange: false);
        return builder;
    }
}
