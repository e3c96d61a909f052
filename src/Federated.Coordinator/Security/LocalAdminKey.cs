namespace Federated.Coordinator.Security;

/// <summary>
/// Embedded mode with no operator credentials configured: an admin key generated once into a file only its owner can
/// read (0600) under the data directory, so a local coordinator works out of the box and is still never open.
/// </summary>
public static class LocalAdminKey
{
    public const string FileName = "operator-admin.key";
    public const string KeyName = "local-admin";

    /// <summary>Reads the key file, creating it on first start.</summary>
    public static OperatorApiKey Ensure(string dataDirectory, out string path)
    {
        Directory.CreateDirectory(dataDirectory);
        path = Path.GetFullPath(Path.Combine(dataDirectory, FileName));
        if (!File.Exists(path))
        {
            try
            {
                var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows())
                    create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                using var file = new FileStream(path, create);
                using var writer = new StreamWriter(file);
                writer.WriteLine(OperatorApiKeys.NewKey());
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process created it first: use theirs.
            }
        }
        string key = File.ReadAllText(path).Trim();
        if (key.Length == 0)
            throw new Hosting.InvalidCoordinatorConfigurationException($"{path} is empty: delete it to have a new admin key generated, or configure {OperatorOptions.Section}:ApiKeys");
        return new OperatorApiKey(KeyName, OperatorApiKeys.Hash(key), [OperatorRoles.Admin]);
    }
}
